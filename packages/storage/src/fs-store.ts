/**
 * A filesystem {@link BlobStore}.
 *
 * Layout: each key segment becomes a directory or file name in which every
 * byte outside `[A-Za-z0-9_-]` is percent-encoded (so `.`, `/`, `\` and
 * non-ASCII never reach the filesystem as such), and the object's file gets
 * the suffix `.blob`. Because encoded names contain no dot, the `.blob`
 * suffix and the `.tmp-*` names of uploads in progress never collide with a
 * key, and keys `a` and `a/b` coexist (`a.blob` next to the directory `a`).
 *
 * File format: the object's bytes, then a JSON trailer (content type,
 * metadata, entity tag), then the trailer's length (4 bytes, big-endian) and
 * the magic `VXB1`. Keeping data and metadata in one file makes a put atomic:
 * the body streams into a temporary file in the same directory, the trailer
 * is appended, the file is flushed to disk and renamed over the old one.
 * A reader holds the file it opened, so a concurrent put never mixes versions.
 *
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortError, VoxmeshError, ErrorCode } from '@voxmesh/core';
import {
  AbstractBlobStore,
  type BlobInfo,
  type BlobListEntry,
  type BlobObject,
  type BlobStoreSupports,
  type NormalizedPut,
  compareKeys,
  notFound,
  resolveRange,
} from './blob-store.js';
import { StorageErrorCode } from './errors.js';
import { checkLength } from './streams.js';

/** Options of the {@link FsBlobStore} constructor. */
export interface FsBlobStoreOptions {
  /** The directory objects are stored under (created on first write). */
  root: string;
  /**
   * Flush each object to disk (`fsync`) before it becomes visible, so a
   * crash never leaves a renamed but empty file.
   * @defaultValue `true`
   */
  fsync?: boolean | undefined;
  /**
   * The size of the chunks objects are read in.
   * @defaultValue `65536`
   */
  highWaterMark?: number | undefined;
}

const SUFFIX = '.blob';
const MAGIC = Buffer.from('VXB1', 'ascii');
const FOOTER = 8;
const MAX_SEGMENT_BYTES = 240;

interface Trailer {
  contentType: string;
  metadata: Record<string, string>;
  etag: string;
}

/** Percent-encodes every byte of a key segment outside `[A-Za-z0-9_-]`. */
export function encodeSegment(segment: string): string {
  let out = '';
  for (const byte of Buffer.from(segment, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of {@link encodeSegment}; `undefined` for names it never produces. */
export function decodeSegment(name: string): string | undefined {
  if (!/^(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+$/.test(name)) return undefined;
  try {
    return decodeURIComponent(name);
  } catch {
    return undefined;
  }
}

class Hasher extends Transform {
  readonly hash = createHash('md5');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
    callback(null, chunk);
  }
}

function isCode(error: unknown, ...codes: string[]): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    codes.includes((error as { code?: string }).code ?? '')
  );
}

/** A {@link BlobStore} on a local (or mounted) filesystem. */
export class FsBlobStore extends AbstractBlobStore {
  readonly supports: BlobStoreSupports = { signedUrls: false };
  /** The absolute root directory. */
  readonly root: string;
  readonly #fsync: boolean;
  readonly #highWaterMark: number;

  constructor(options: FsBlobStoreOptions) {
    super();
    if (typeof options.root !== 'string' || options.root === '') {
      throw new TypeError('FsBlobStore needs a root directory');
    }
    this.root = resolve(options.root);
    this.#fsync = options.fsync ?? true;
    this.#highWaterMark = options.highWaterMark ?? 65_536;
  }

  /** The file that holds `key` (its segments encoded; always inside the root). */
  pathOf(key: string): string {
    const parts = key.split('/').map((segment) => {
      const encoded = encodeSegment(segment);
      if (encoded.length > MAX_SEGMENT_BYTES) {
        throw new VoxmeshError(
          StorageErrorCode.INVALID_KEY,
          `Key segment ${JSON.stringify(segment.slice(0, 50))}... is too long for the filesystem store (${encoded.length} > ${MAX_SEGMENT_BYTES} encoded bytes)`,
        );
      }
      return encoded;
    });
    const last = parts.pop() as string;
    const path = join(this.root, ...parts, last + SUFFIX);
    // Encoding leaves no '.', '/' or '\' in a name, so this cannot fail; checked anyway.
    if (!path.startsWith(this.root + sep)) throw new Error(`Key escaped the store root: ${key}`);
    return path;
  }

  protected async _put(key: string, input: NormalizedPut): Promise<BlobInfo> {
    const target = this.pathOf(key);
    const dir = target.slice(0, target.lastIndexOf(sep));
    const temp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const { body, signal } = input;
    let file: FileHandle | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        await mkdir(dir, { recursive: true });
        try {
          file = await open(temp, 'wx');
          break;
        } catch (error) {
          // A concurrent delete may remove the fresh, empty directory: retry.
          if (!isCode(error, 'ENOENT') || attempt >= 3) throw error;
        }
      }
      const hasher = new Hasher();
      const handle = file;
      let position = 0;
      const out = new Writable({
        highWaterMark: this.#highWaterMark,
        write(chunk: Buffer, _encoding, callback) {
          handle.write(chunk, 0, chunk.byteLength, position).then(({ bytesWritten }) => {
            position += bytesWritten;
            callback();
          }, callback);
        },
      });
      await pipeline(body, hasher, out, { signal });
      checkLength(key, input.contentLength, hasher.bytes);
      const trailer: Trailer = {
        contentType: input.contentType,
        metadata: input.metadata,
        etag: `"${hasher.hash.digest('hex')}"`,
      };
      const json = Buffer.from(JSON.stringify(trailer), 'utf8');
      const footer = Buffer.alloc(FOOTER);
      footer.writeUInt32BE(json.byteLength, 0);
      MAGIC.copy(footer, 4);
      await file.write(Buffer.concat([json, footer]), 0, json.byteLength + FOOTER, hasher.bytes);
      if (this.#fsync) await file.sync();
      const stat = await file.stat();
      await file.close();
      file = undefined;
      await rename(temp, target);
      return { key, size: hasher.bytes, ...trailer, lastModified: stat.mtime };
    } catch (error) {
      body.destroy();
      await file?.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      throw error;
    }
  }

  async #openBlob(key: string): Promise<{ file: FileHandle; info: BlobInfo }> {
    const path = this.pathOf(key);
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) throw notFound(key, error);
      throw error;
    }
    try {
      const stat = await file.stat();
      const corrupt = (why: string): VoxmeshError =>
        new VoxmeshError(
          ErrorCode.INVALID_INPUT,
          `The file of ${JSON.stringify(key)} is not a blob: ${why}`,
        );
      if (stat.size < FOOTER) throw corrupt('too short');
      const footer = Buffer.alloc(FOOTER);
      await file.read(footer, 0, FOOTER, stat.size - FOOTER);
      if (!footer.subarray(4).equals(MAGIC)) throw corrupt('no trailer');
      const length = footer.readUInt32BE(0);
      const size = stat.size - FOOTER - length;
      if (size < 0) throw corrupt('bad trailer length');
      const json = Buffer.alloc(length);
      await file.read(json, 0, length, size);
      const trailer = JSON.parse(json.toString('utf8')) as Trailer;
      return {
        file,
        info: {
          key,
          size,
          contentType: trailer.contentType,
          etag: trailer.etag,
          lastModified: stat.mtime,
          metadata: trailer.metadata,
        },
      };
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  protected async _get(
    key: string,
    range: { start: number; end: number | undefined } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<BlobObject> {
    const { file, info } = await this.#openBlob(key);
    let resolved: { start: number; end: number } | undefined;
    try {
      resolved = resolveRange(key, range, info.size);
    } catch (error) {
      await file.close();
      throw error;
    }
    const start = resolved?.start ?? 0;
    const end = resolved ? resolved.end : info.size - 1;
    if (end < start) {
      // An empty object: nothing to read.
      await file.close();
      return { info, range: resolved, body: Readable.from([]) };
    }
    const body = createReadStream('', {
      fd: file,
      start,
      end,
      highWaterMark: this.#highWaterMark,
      autoClose: true,
      signal,
    });
    return { info, range: resolved, body };
  }

  protected async _head(key: string): Promise<BlobInfo> {
    const { file, info } = await this.#openBlob(key);
    await file.close();
    return info;
  }

  protected async _delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return;
      throw error;
    }
    // Remove directories the delete left empty, up to the root.
    let dir = path.slice(0, path.lastIndexOf(sep));
    while (dir.length > this.root.length && dir.startsWith(this.root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return;
      }
      dir = dir.slice(0, dir.lastIndexOf(sep));
    }
  }

  protected async *_list(
    prefix: string,
    signal: AbortSignal | undefined,
  ): AsyncIterable<BlobListEntry> {
    const keys: string[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      signal?.throwIfAborted();
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isCode(error, 'ENOENT', 'ENOTDIR')) return;
        throw error;
      }
      for (const entry of entries) {
        if (entry.isDirectory()) {
          const segment = decodeSegment(entry.name);
          if (segment === undefined) continue;
          const sub = `${keyPrefix}${segment}/`;
          if (sub.startsWith(prefix) || prefix.startsWith(sub))
            await walk(join(dir, entry.name), sub);
        } else if (entry.isFile() && entry.name.endsWith(SUFFIX)) {
          const segment = decodeSegment(entry.name.slice(0, -SUFFIX.length));
          if (segment === undefined) continue;
          const key = keyPrefix + segment;
          if (key.startsWith(prefix)) keys.push(key);
        }
      }
    };
    await walk(this.root, '');
    keys.sort(compareKeys);
    for (const key of keys) {
      let info: BlobInfo;
      try {
        info = await this._head(key);
      } catch (error) {
        if (VoxmeshError.is(error, ErrorCode.NOT_FOUND)) continue; // deleted meanwhile
        throw error;
      }
      yield { key, size: info.size, etag: info.etag, lastModified: info.lastModified };
    }
  }
}
