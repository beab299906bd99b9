import { type RedisClientLike, runScript } from './client.js';
import { asBuffer } from './codec.js';
import { type KeyLayout, keyName } from './key-layout.js';
import { PointerCache } from './pointer-cache.js';
import { type LuaScript, POINTER_SCRIPTS, type TargetVariant } from './scripts.js';

// The one place where a single Redis and a Redis Cluster differ. Everything else in the store is
// the same bucket scripts on the same keys. The difference is the pointer keys (token hash → the
// session's bucket and id; id → bucket), which sit in slots of their own: on a single Redis a
// script can follow and write them itself, so every operation is one round trip; on a Cluster a
// script may touch only its own slot, so the store reads and writes pointers in calls of their
// own, and remembers the ones that never change.

/** Where a script runs and how it finds its session. @internal */
export interface ScriptTarget {
  variant: TargetVariant;
  /** KEYS: the first one routes the script. */
  keys: Array<string | Buffer>;
  /** ARGV[4] and ARGV[5]: bucket and id (as stored, see encodeId), when known beforehand. */
  bucket: string;
  id: Buffer | '';
}

/** @internal */
export interface Topology {
  /** ARGV[3]: what the scripts must do about pointers (see scripts.ts). */
  readonly mode: string;
  /** Where the session holding a token hash is; `null` when nothing points to it. */
  locateToken(tokenHash: string): Promise<ScriptTarget | null>;
  /** Where the session with an id (as stored) is; `null` when nothing points to it. */
  locateId(id: Buffer): Promise<ScriptTarget | null>;
  /** Runs before an insert script; returns the undo for when the insert fails. */
  claimPointers(session: PointerClaim): Promise<() => Promise<void>>;
  /**
   * Rotation: what the script is given, and what happens around it. `ttlFor` gives the TTL the
   * record will have from its current absolute expiry; with `moved` (a reauthentication) the
   * session's id pointer is made to last as long too, which the scripts do themselves where they
   * keep the pointers.
   */
  rotate(
    oldHash: string,
    newHash: string,
    run: (target: ScriptTarget, checkOnly: boolean) => Promise<unknown>,
    ttlFor: (absoluteExpiresAt: number) => number,
    moved: boolean,
  ): Promise<unknown>;
  /** After a purge: the pointers of deleted records when the script could not drop them. */
  dropPointers(bucket: string, pointers: unknown[]): Promise<void>;
  /** A validation found nothing: forget what was remembered about the hash. */
  forgetToken(tokenHash: string): void;
}

/** What an insert must claim before its record is written. @internal */
export interface PointerClaim {
  tokenHash: string;
  /** As stored (see encodeId). */
  id: Buffer;
  bucket: string;
  ttl: number;
}

/** A single Redis: scripts follow and keep the pointers themselves. @internal */
export class SingleTopology implements Topology {
  readonly mode: string;
  readonly #layout: KeyLayout;

  constructor(layout: KeyLayout) {
    this.#layout = layout;
    this.mode = layout.buckets > 1 ? 'pi' : 'p';
  }

  async locateToken(tokenHash: string): Promise<ScriptTarget> {
    return {
      variant: 'token',
      keys: [keyName(this.#layout, 'token', { hash: tokenHash })],
      bucket: '',
      id: '',
    };
  }

  async locateId(id: Buffer): Promise<ScriptTarget> {
    if (this.#layout.buckets === 1) return recordTarget(this.#layout, '0', id);
    return { variant: 'id', keys: [keyName(this.#layout, 'id', { id })], bucket: '', id };
  }

  async claimPointers(): Promise<() => Promise<void>> {
    return async () => {};
  }

  async rotate(
    oldHash: string,
    newHash: string,
    run: (target: ScriptTarget, checkOnly: boolean) => Promise<unknown>,
  ): Promise<unknown> {
    const target = await this.locateToken(oldHash);
    // The script claims the new pointer and drops the old one itself.
    target.keys.push(keyName(this.#layout, 'token', { hash: newHash }));
    return run(target, false);
  }

  async dropPointers(): Promise<void> {}

  forgetToken(): void {}
}

/**
 * A Redis Cluster: pointers are read, claimed and released by calls of their own, in their own
 * slots, and the ones that never change (a token hash's or an id's bucket and id) are cached.
 * @internal
 */
export class ClusterTopology implements Topology {
  readonly mode: string;
  readonly #client: RedisClientLike;
  readonly #layout: KeyLayout;
  /** `t:<hash>` → the token pointer's value (`b:<id>`); `i:<id>` → the id's bucket. */
  readonly #cache: PointerCache<Buffer | string>;

  constructor(client: RedisClientLike, layout: KeyLayout, cacheSize: number) {
    this.#client = client;
    this.#layout = layout;
    this.#cache = new PointerCache(cacheSize);
    this.mode = layout.buckets > 1 ? 'i' : '';
  }

  async locateToken(tokenHash: string): Promise<ScriptTarget | null> {
    const cacheKey = `t:${tokenHash}`;
    let value = this.#cache.get(cacheKey);
    if (value === undefined) {
      const found = await this.#run(
        POINTER_SCRIPTS.get,
        keyName(this.#layout, 'token', { hash: tokenHash }),
        [],
      );
      if (found === null) return null;
      value = asBuffer(found);
      this.#cache.set(cacheKey, value);
    }
    // `b:<id>`: the bucket is digits, so the first colon ends it (an id's bytes may hold more).
    const pointer = value as Buffer;
    const colon = pointer.indexOf(0x3a);
    if (colon < 1) return null;
    return recordTarget(
      this.#layout,
      pointer.toString('latin1', 0, colon),
      pointer.subarray(colon + 1),
    );
  }

  async locateId(id: Buffer): Promise<ScriptTarget | null> {
    if (this.#layout.buckets === 1) return recordTarget(this.#layout, '0', id);
    const cacheKey = `i:${id.toString('hex')}`;
    let bucket = this.#cache.get(cacheKey);
    if (bucket === undefined) {
      const found = await this.#run(POINTER_SCRIPTS.get, keyName(this.#layout, 'id', { id }), []);
      if (found === null) return null;
      bucket = asBuffer(found).toString('latin1');
      this.#cache.set(cacheKey, bucket);
    }
    return recordTarget(this.#layout, String(bucket), id);
  }

  // The pointers are claimed first, in their own slots, because they are what makes a token hash
  // and an id unique across the whole cluster; then the caller writes the record in its bucket.
  async claimPointers(claim: PointerClaim): Promise<() => Promise<void>> {
    const tokenKey = keyName(this.#layout, 'token', { hash: claim.tokenHash });
    const tokenValue = pointerValue(claim.bucket, claim.id);
    const idKey = this.#layout.buckets > 1 ? keyName(this.#layout, 'id', { id: claim.id }) : null;
    const claims = await Promise.allSettled([
      this.#claim(tokenKey, tokenValue, claim.ttl),
      idKey === null ? Promise.resolve(true) : this.#claim(idKey, claim.bucket, claim.ttl),
    ]);
    const [token, id] = claims as [PromiseSettledResult<boolean>, PromiseSettledResult<boolean>];
    const undo = async () => {
      await Promise.allSettled([
        token.status === 'fulfilled' && token.value ? this.#release(tokenKey, tokenValue) : null,
        idKey !== null && id.status === 'fulfilled' && id.value
          ? this.#release(idKey, claim.bucket)
          : null,
      ]);
    };
    for (const settled of claims) {
      if (settled.status === 'rejected') {
        await undo();
        throw settled.reason;
      }
    }
    if (token.status === 'fulfilled' && !token.value) {
      await undo();
      throw new Error('duplicate token hash');
    }
    if (id.status === 'fulfilled' && !id.value) {
      await undo();
      throw new Error('duplicate session id');
    }
    const idCacheKey = `i:${claim.id.toString('hex')}`;
    this.#cache.set(`t:${claim.tokenHash}`, tokenValue);
    this.#cache.set(idCacheKey, claim.bucket);
    return async () => {
      this.#cache.delete(`t:${claim.tokenHash}`);
      this.#cache.delete(idCacheKey);
      await undo();
    };
  }

  async rotate(
    oldHash: string,
    newHash: string,
    run: (target: ScriptTarget, checkOnly: boolean) => Promise<unknown>,
    ttlFor: (absoluteExpiresAt: number) => number,
    moved: boolean,
  ): Promise<unknown> {
    const target = await this.locateToken(oldHash);
    if (target === null) return null;
    // Check first, to learn the absolute expiry that bounds the new pointer's TTL; the switch
    // checks again, in the same slot as every other change to this session.
    const absolute = await run(target, true);
    if (absolute === null) return null;
    const ttl = ttlFor(Number(String(absolute)));
    const value = pointerValue(target.bucket, target.id as Buffer);
    const newKey = keyName(this.#layout, 'token', { hash: newHash });
    // The id pointer is extended before the switch, so that once the record has its new expiry
    // every key leading to it lasts as long; if the switch then fails, a pointer that outlives
    // its record only ever reads as missing. Never shortened, as the scripts' own indexes.
    const idKey =
      moved && this.#layout.buckets > 1
        ? keyName(this.#layout, 'id', { id: target.id as Buffer })
        : null;
    const [claim, extension] = await Promise.allSettled([
      this.#claim(newKey, value, ttl),
      idKey === null
        ? Promise.resolve()
        : this.#run(POINTER_SCRIPTS.extend, idKey, [
            target.bucket,
            String(Math.max(1, Math.floor(ttl))),
          ]),
    ]);
    const claimed = claim.status === 'fulfilled' && claim.value;
    if (extension.status === 'rejected' || !claimed) {
      if (claimed) await this.#release(newKey, value).catch(() => undefined);
      if (extension.status === 'rejected') throw extension.reason;
      if (claim.status === 'rejected') throw claim.reason;
      throw new Error('duplicate token hash');
    }
    let reply: unknown;
    try {
      reply = await run(target, false);
    } catch (error) {
      await this.#release(newKey, value).catch(() => undefined);
      throw error;
    }
    if (reply === null) {
      await this.#release(newKey, value).catch(() => undefined);
      return null;
    }
    this.#cache.delete(`t:${oldHash}`);
    this.#cache.set(`t:${newHash}`, value);
    // The old hash already stopped working (the record now holds the new one): removing its
    // pointer only saves memory, so a failure here leaves a pointer that expires by itself.
    await this.#release(keyName(this.#layout, 'token', { hash: oldHash }), value).catch(
      () => undefined,
    );
    return reply;
  }

  // They would expire by themselves and resolve to nothing meanwhile; removing them frees memory.
  async dropPointers(bucket: string, pointers: unknown[]): Promise<void> {
    const drops: Array<Promise<void>> = [];
    for (let i = 0; i + 1 < pointers.length; i += 2) {
      const tokenHash = asBuffer(pointers[i]).toString('hex');
      const id = asBuffer(pointers[i + 1]);
      this.#cache.delete(`t:${tokenHash}`);
      this.#cache.delete(`i:${id.toString('hex')}`);
      drops.push(
        this.#release(
          keyName(this.#layout, 'token', { hash: tokenHash }),
          pointerValue(bucket, id),
        ),
      );
      if (this.#layout.buckets > 1) {
        drops.push(this.#release(keyName(this.#layout, 'id', { id }), bucket));
      }
    }
    await Promise.allSettled(drops);
  }

  forgetToken(tokenHash: string): void {
    this.#cache.delete(`t:${tokenHash}`);
  }

  #run(script: LuaScript, key: string | Buffer, args: Array<string | Buffer>): Promise<unknown> {
    return runScript(this.#client, script, [key], args);
  }

  async #claim(key: string | Buffer, value: Buffer | string, ttl: number): Promise<boolean> {
    const ms = String(Math.max(1, Math.floor(ttl)));
    return (await this.#run(POINTER_SCRIPTS.claim, key, [value, ms])) === 1;
  }

  async #release(key: string | Buffer, value: Buffer | string): Promise<void> {
    await this.#run(POINTER_SCRIPTS.release, key, [value]);
  }
}

/** A token pointer's value: `b:<id>`, the id as stored. */
function pointerValue(bucket: string, id: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${bucket}:`), id]);
}

function recordTarget(layout: KeyLayout, bucket: string, id: Buffer): ScriptTarget {
  return { variant: 'args', keys: [keyName(layout, 'record', { b: bucket, id })], bucket, id };
}

/** The script to run for a target. @internal */
export function scriptFor<T extends Partial<Record<TargetVariant, LuaScript>>>(
  variants: T,
  target: ScriptTarget,
): LuaScript {
  const script = variants[target.variant];
  if (script === undefined) throw new Error(`no ${target.variant} build of this script`);
  return script;
}
