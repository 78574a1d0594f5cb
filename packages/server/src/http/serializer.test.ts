import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorBody, WorkspaceView } from '@molecule/contracts';
import { responseSerializerCompiler } from './serializer.js';

describe('response serializer', () => {
  it('writes only declared properties: an undeclared field (a secret) never reaches the client', () => {
    const s = responseSerializerCompiler({ schema: z.object({ id: z.string(), tags: z.array(z.string()) }) });
    expect(JSON.parse(s({ id: 'a', tags: ['x'], platform_inbound_secret: 's3cret' }))).toEqual({ id: 'a', tags: ['x'] });
  });

  it('keeps nulls, free-form JSON and extra error fields', () => {
    const view = responseSerializerCompiler({ schema: WorkspaceView.pick({ role: true, agent_card: true }) });
    expect(JSON.parse(view({ role: null, agent_card: { skills: [{ id: 1 }] } }))).toEqual({ role: null, agent_card: { skills: [{ id: 1 }] } });
    const err = responseSerializerCompiler({ schema: ErrorBody });
    expect(JSON.parse(err({ error: 'e', code: 'gone', removed_at: null, hint: 'h' }))).toEqual({ error: 'e', code: 'gone', removed_at: null, hint: 'h' });
  });
});
