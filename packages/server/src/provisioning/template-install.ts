import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RUNTIMES } from '@molecule/contracts';
import tar from 'tar-stream';
import { parse as parseYaml } from 'yaml';
import yauzl from 'yauzl';
import { conflict, DomainError, invalid } from '../errors.js';
import { MAX_TEMPLATE_BYTES, templateExists } from './templates.js';

/** At most this many files in one template. */
export const MAX_TEMPLATE_FILES = 500;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._ -]*$/;

/** Files by path relative to the template folder; text (UTF-8). */
export type TemplateFileSet = Record<string, string>;

const tooLarge = (what = 'template') => new DomainError('payload_too_large', `a ${what} may hold at most ${MAX_TEMPLATE_BYTES} bytes in ${MAX_TEMPLATE_FILES} files`);

/**
 * A path inside a template, or a 400 saying why not: relative, `/`-separated, no `.` or `..`
 * segment, no backslash, NUL or control character, each segment a plain file name.
 */
export function safeTemplatePath(p: string): string {
  const bad = (why: string) => invalid(`file path "${p.slice(0, 200)}" ${why}`);
  if (p.length === 0 || p.length > 500) throw bad('must be 1 to 500 characters');
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) throw bad('must be relative, not absolute');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/[\\\0-\x1f]/.test(p)) throw bad('must not contain backslashes or control characters');
  const segments = p.split('/');
  for (const s of segments) {
    if (s === '..' || s === '.') throw bad('must not contain "." or ".." segments');
    if (!SEGMENT.test(s)) throw bad('must be made of plain file names (letters, digits, . _ - and spaces)');
  }
  return segments.join('/');
}

/**
 * Checks a set of files as a template: a safe path each, within the size and count caps, text, and
 * a `config.yaml` that is a YAML mapping with, if it says one, a known runtime. A single top folder
 * holding everything (how archives are usually made) is taken off first. Answers the files to write.
 */
export function checkTemplateFiles(input: Readonly<Record<string, string | Buffer>>): TemplateFileSet {
  const entries = Object.entries(input);
  if (entries.length === 0) throw invalid('the template has no files');
  if (entries.length > MAX_TEMPLATE_FILES) throw tooLarge();
  let total = 0;
  const files: TemplateFileSet = {};
  for (const [raw, content] of entries) {
    const p = safeTemplatePath(raw);
    const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    total += buf.length;
    if (total > MAX_TEMPLATE_BYTES) throw tooLarge();
    const text = buf.toString('utf8');
    if (text.includes('\0') || !Buffer.from(text, 'utf8').equals(buf)) throw invalid(`file "${p}" is not UTF-8 text; templates hold text files only`);
    files[p] = text;
  }
  const paths = Object.keys(files);
  const top = paths[0]!.split('/')[0]!;
  if (!('config.yaml' in files) && paths.every((p) => p.startsWith(`${top}/`))) {
    return checkTemplateFiles(Object.fromEntries(paths.map((p) => [p.slice(top.length + 1), files[p]!])));
  }
  const config = files['config.yaml'];
  if (config === undefined) throw invalid('the template has no config.yaml at its top');
  let doc: unknown;
  try {
    doc = parseYaml(config, { maxAliasCount: 100 });
  } catch {
    throw invalid('config.yaml does not parse as YAML');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('config.yaml must be a YAML mapping');
  const runtime = (doc as { runtime?: unknown }).runtime;
  if (runtime !== undefined && !(RUNTIMES as readonly unknown[]).includes(runtime)) throw invalid(`config.yaml names an unknown runtime: ${JSON.stringify(runtime).slice(0, 100)}`);
  return files;
}

/**
 * Writes a checked template as `templatesDir/<name>`: into a hidden folder first, then renamed into
 * place, so a half-written template is never visible. 409 when the name is taken (unless
 * `overwrite`), 400 for a name that is not a plain folder name.
 */
export async function installTemplate(templatesDir: string, name: string, files: TemplateFileSet, opts: { overwrite?: boolean } = {}): Promise<void> {
  if (!NAME.test(name) || name.length > 200) throw invalid('template name must be a folder name: letters, digits, . _ - (not starting with . _ or -)');
  const exists = await templateExists(templatesDir, name);
  if (exists && !opts.overwrite) throw conflict(`template "${name}" exists; pass overwrite=true to replace it`);
  const staging = path.join(templatesDir, `.incoming-${randomBytes(6).toString('hex')}`);
  try {
    for (const [p, text] of Object.entries(files)) {
      const full = path.join(staging, ...p.split('/'));
      await mkdir(path.dirname(full), { recursive: true });
      await writeFile(full, text, { flag: 'wx' });
    }
    const target = path.join(templatesDir, name);
    if (exists) await rm(target, { recursive: true, force: true });
    await rename(staging, target);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The files of a `.tar` (optionally gzipped) archive; links, devices and other non-files are refused.
 * `what` names the archive's kind in the size refusal (templates and plugins share the cap).
 */
export async function filesFromTar(archive: Buffer, what = 'template'): Promise<Record<string, Buffer>> {
  let data = archive;
  if (data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = gunzipSync(data, { maxOutputLength: MAX_TEMPLATE_BYTES * 2 });
    } catch {
      throw invalid('the archive is not a readable gzip file (or it unpacks to more than the size cap)');
    }
  }
  const out: Record<string, Buffer> = {};
  let total = 0;
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const fail = (err: Error) => {
        stream.resume();
        extract.destroy(err);
      };
      if (header.type === 'directory') return void stream.on('end', next).resume();
      if (header.type !== 'file') return fail(invalid(`archive entry "${header.name.slice(0, 200)}" is a ${header.type ?? 'special entry'}; only files and folders are allowed`));
      let name: string;
      try {
        name = safeTemplatePath(header.name.replace(/^\.\//, ''));
      } catch (err) {
        return fail(err as Error);
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => {
        const c = chunk as Buffer;
        total += c.length;
        if (total > MAX_TEMPLATE_BYTES) return fail(tooLarge(what));
        chunks.push(c);
      });
      stream.on('end', () => {
        out[name] = Buffer.concat(chunks);
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', (err) => reject(err instanceof DomainError ? err : invalid('the archive is not a readable tar file')));
  });
  extract.end(data);
  await done;
  return out;
}

/** The files of a `.zip` archive; symlinks and entries with unsafe paths are refused. */
export function filesFromZip(archive: Buffer, what = 'template'): Promise<Record<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(archive, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return reject(invalid('the archive is not a readable zip file'));
      const out: Record<string, Buffer> = {};
      let total = 0;
      const fail = (e: unknown) => {
        zip.close();
        reject(e instanceof DomainError ? e : invalid('the archive is not a readable zip file'));
      };
      zip.on('error', fail);
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        try {
          // Names are decoded here (not by yauzl) so an unsafe one gets this module's message.
          const raw = entry.fileName as unknown as Buffer | string;
          const fileName = typeof raw === 'string' ? raw : raw.toString('utf8');
          if (fileName.endsWith('/')) return zip.readEntry();
          const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
          if (mode === 0o120000) throw invalid(`archive entry "${fileName.slice(0, 200)}" is a symlink; only files and folders are allowed`);
          const name = safeTemplatePath(fileName);
          if (total + entry.uncompressedSize > MAX_TEMPLATE_BYTES) throw tooLarge(what);
          zip.openReadStream(entry, (e, stream) => {
            if (e || !stream) return fail(e);
            const chunks: Buffer[] = [];
            stream.on('data', (c: Buffer) => {
              total += c.length;
              if (total > MAX_TEMPLATE_BYTES) {
                stream.destroy();
                return fail(tooLarge(what));
              }
              chunks.push(c);
            });
            stream.on('error', fail);
            stream.on('end', () => {
              out[name] = Buffer.concat(chunks);
              zip.readEntry();
            });
          });
        } catch (e) {
          fail(e);
        }
      });
      zip.readEntry();
    });
  });
}
