import { describe, expect, it } from 'vitest';
import { FileError, splitFilePath } from './files.js';

describe('file paths (C080)', () => {
  it('splits a canonical absolute path into one of the four roots and a relative path', () => {
    expect(splitFilePath('/configs/config.yaml')).toEqual({ root: '/configs', rel: 'config.yaml' });
    expect(splitFilePath('/workspace/a/b c/d.md')).toEqual({ root: '/workspace', rel: 'a/b c/d.md' });
    expect(splitFilePath('/home/.bashrc')).toEqual({ root: '/home', rel: '.bashrc' });
    expect(splitFilePath('/plugins/p/x..y')).toEqual({ root: '/plugins', rel: 'p/x..y' });
    expect(splitFilePath('/configs', true)).toEqual({ root: '/configs', rel: '' });
    expect(splitFilePath('/configs/', true)).toEqual({ root: '/configs', rel: '' });
  });

  it.each([
    ['configs/a', /absolute/],
    ['/etc/passwd', /under one of/],
    ['/Configs/a', /under one of/],
    ['/configs', /names a root/],
    ['/configs/../etc', /"\." and "\.\."/],
    ['/configs/a/./b', /"\." and "\.\."/],
    ['/configs/a/..', /"\." and "\.\."/],
    ['/configs//a', /empty segments/],
    ['/configs/a/', /empty segments/],
    ['/configs/a\\..\\b', /backslash/],
    ['/configs/a\0b', /control/],
    ['/configs/a\nb', /control/],
    ['/configs/%2e%2e/x', /percent-encoded/],
    ['/configs/%2E%2e/x', /percent-encoded/],
    ['/configs/a%2fb', /percent-encoded/],
    ['/configs/%252e', /percent-encoded/],
    [`/configs/${'a'.repeat(256)}`, /longer than 255/],
    [`/configs/${'a/'.repeat(2100)}a`, /longer than 4096/],
  ])('refuses %j', (p, why) => {
    let err: unknown;
    try {
      splitFilePath(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FileError);
    expect((err as FileError).kind).toBe('invalid_path');
    expect((err as FileError).message).toMatch(why);
  });
});
