import { describe, expect, it } from 'vitest';
import { imageBase, imageTagIsMoving, parseImageRef, selectImage } from './images.js';

describe('image references', () => {
  // C136: which tags move (and so are pulled on every start, C137).
  const cases: [ref: string, moving: boolean][] = [
    ['molecule/agent:latest', true],
    ['molecule/agent', true],
    ['ghcr.io/molecule-ai/workspace-template-hermes', true],
    ['molecule/agent:staging', true],
    ['molecule/agent:main', true],
    ['molecule/agent:dev', true],
    ['molecule/agent:edge', true],
    ['molecule/agent:nightly', true],
    ['molecule/agent:rolling', true],
    ['localhost:5000/foo', true],
    ['localhost:5000/foo:latest', true],
    ['molecule/agent:1.2.3', false],
    ['molecule/agent:v1.2', false],
    ['molecule/agent:sha-3f2a9c1', false],
    ['molecule/agent:2026-11-21', false],
    ['molecule/agent:build-4711', false],
    ['localhost:5000/foo:1.0', false],
    ['workspace-template:hermes', false],
    ['molecule/agent:local', false],
    [`molecule/agent@sha256:${'b'.repeat(64)}`, false],
    [`molecule/agent:latest@sha256:${'b'.repeat(64)}`, false],
  ];
  it.each(cases)('C136 imageTagIsMoving(%s) is %s', (ref, moving) => {
    expect(imageTagIsMoving(ref)).toBe(moving);
  });

  it('parses registry ports, tags and digests apart', () => {
    expect(parseImageRef('localhost:5000/a/b:1.0')).toEqual({ name: 'localhost:5000/a/b', tag: '1.0', digest: undefined });
    expect(parseImageRef('localhost:5000/a/b')).toEqual({ name: 'localhost:5000/a/b', tag: undefined, digest: undefined });
    expect(parseImageRef(`a@sha256:${'c'.repeat(64)}`)).toEqual({ name: 'a', tag: undefined, digest: `sha256:${'c'.repeat(64)}` });
    expect(imageBase('ghcr.io/x/y:latest')).toBe('ghcr.io/x/y');
  });

  it('C135 selection order: explicit image, then the runtime map, then the default image', () => {
    const images = { molecule: 'molecule/agent:1', hermes: 'hermes/agent:2' };
    const defaultImage = 'molecule/agent:default';
    expect(selectImage({ explicit: 'pinned@sha256:x', runtime: 'hermes', images, defaultImage })).toBe('pinned@sha256:x');
    expect(selectImage({ runtime: 'hermes', images, defaultImage })).toBe('hermes/agent:2');
    expect(selectImage({ explicit: '', runtime: 'molecule', images, defaultImage })).toBe('molecule/agent:1');
    expect(selectImage({ runtime: 'crewai', images, defaultImage })).toBe(defaultImage);
    expect(selectImage({ runtime: 'constructor', images, defaultImage })).toBe(defaultImage);
  });
});
