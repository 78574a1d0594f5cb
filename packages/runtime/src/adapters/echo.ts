import type { Adapter, AdapterEvent, AdapterInput } from './types.js';

/** Replies "echo: <text>": a deterministic agent for demos, smoke tests and the platform's own tests. */
export class EchoAdapter implements Adapter {
  readonly name = 'echo';

  async *run(input: AdapterInput): AsyncIterable<AdapterEvent> {
    yield { type: 'text', text: `echo: ${input.text}` };
  }
}
