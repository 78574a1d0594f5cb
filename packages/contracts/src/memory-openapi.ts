import { z } from 'zod';
import {
  Memory,
  MEMORY_PLUGIN_CONTRACT,
  MemoryPluginError,
  MemoryWrite,
  Namespace,
  NamespaceName,
  NamespacePatch,
  NamespaceUpsert,
  PluginHealth,
  SearchRequest,
  SearchResponse,
} from './memory.js';

/** The memory plugin contract as an OpenAPI 3.0.3 document, built from the zod schemas (one source). */
export function memoryPluginOpenApi(): Record<string, unknown> {
  const schema = (s: z.ZodType, io: 'input' | 'output' = 'output') => z.toJSONSchema(s, { target: 'openapi-3.0', io, unrepresentable: 'any' });
  const json = (ref: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } });
  const err = (description: string) => ({ description, ...json('Error') });
  const name = { name: 'name', in: 'path', required: true, schema: schema(NamespaceName) };
  return {
    openapi: '3.0.3',
    info: {
      title: 'Molecule memory plugin',
      version: '1.0.0',
      description: `${MEMORY_PLUGIN_CONTRACT}: the HTTP contract between the Molecule platform and a memory store. No auth: the plugin listens on a private address and the platform, its only client, checks every namespace against the caller before it asks.`,
    },
    paths: {
      '/v1/health': { get: { summary: 'Status and capabilities', responses: { 200: { description: 'ok or degraded', ...json('PluginHealth') } } } },
      '/v1/namespaces/{name}': {
        put: { summary: 'Create or update a namespace', parameters: [name], requestBody: { required: true, ...json('NamespaceUpsert') }, responses: { 200: { description: 'the namespace', ...json('Namespace') }, 400: err('invalid name or body') } },
        patch: { summary: 'Change a namespace', parameters: [name], requestBody: { required: true, ...json('NamespacePatch') }, responses: { 200: { description: 'the namespace', ...json('Namespace') }, 400: err('invalid name, body, or an empty patch'), 404: err('unknown namespace') } },
        delete: { summary: 'Delete a namespace and its memories', parameters: [name], responses: { 204: { description: 'deleted' }, 404: err('unknown namespace') } },
      },
      '/v1/namespaces/{name}/memories': {
        post: {
          summary: 'Store a memory (with id: an idempotent upsert)',
          parameters: [name],
          requestBody: { required: true, ...json('MemoryWrite') },
          responses: { 200: { description: 'an existing id, updated', ...json('Memory') }, 201: { description: 'stored', ...json('Memory') }, 400: err('invalid name or body (blank content)'), 404: err('unknown namespace') },
        },
      },
      '/v1/namespaces/{name}/memories/{id}': {
        delete: { summary: 'Forget a memory', parameters: [name, { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }], responses: { 204: { description: 'forgotten' }, 404: err('not in that namespace') } },
      },
      '/v1/search': {
        post: { summary: 'Search namespaces', requestBody: { required: true, ...json('SearchRequest') }, responses: { 200: { description: 'the memories, best first', ...json('SearchResponse') }, 400: err('invalid body (no namespaces)') } },
      },
    },
    components: {
      schemas: {
        PluginHealth: schema(PluginHealth),
        NamespaceUpsert: schema(NamespaceUpsert, 'input'),
        NamespacePatch: schema(NamespacePatch, 'input'),
        Namespace: schema(Namespace),
        MemoryWrite: schema(MemoryWrite, 'input'),
        Memory: schema(Memory),
        SearchRequest: schema(SearchRequest, 'input'),
        SearchResponse: schema(SearchResponse),
        Error: schema(MemoryPluginError),
      },
    },
  };
}
