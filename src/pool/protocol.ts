import { GroveError, type SerializedError } from '../errors.js';

/**
 * What crosses the thread boundary, whatever the task: each feature declares its own task type
 * (a `kind` tag and plain data) next to its code, and the worker entry dispatches on `kind`.
 * Replies are plain data too, because structured clone does not keep classes; a failure keeps
 * its kind across the boundary: a user's error (a GroveError, or an errno failure of the
 * machine's) stays a one-line message, a bug stays a bug with the worker's stack.
 */
export interface TaskEnvelope { kind: string }

export type WorkerFailure =
  | { kind: 'user'; error: SerializedError }
  | { kind: 'internal'; name: string; message: string; stack: string };

/** A failed task may still report what it completed before the failure (`partial`). */
export type Reply<T> = { ok: true; value: T } | { ok: false; failure: WorkerFailure; partial?: T };

/**
 * Thrown by a task that failed after completing part of its work, so that the caller keeps the
 * part (a pull publishes the objects a failed task had already stored, and a rerun does not
 * fetch them again). The caller sees `failure`, with `partial` attached (see {@link partialOf}).
 */
export class PartialFailure<T> extends Error {
  constructor(readonly failure: unknown, readonly partial: T) {
    super('task failed after completing part of its work');
  }
}

const PARTIAL = Symbol('partial');

/** What a failed task completed before it failed, if it said. */
export function partialOf<T>(e: unknown): T | undefined {
  return typeof e === 'object' && e !== null ? (e as { [PARTIAL]?: T })[PARTIAL] : undefined;
}

/** The reply for what a task returned or threw, on the worker's side. */
export function replyOf<T>(run: () => Promise<T>): Promise<Reply<T>> {
  return run().then(
    (value) => ({ ok: true, value }),
    (e: unknown) => (e instanceof PartialFailure ? { ok: false, failure: failureOf(e.failure), partial: e.partial as T } : { ok: false, failure: failureOf(e) }),
  );
}

/** What a task threw, as it crosses the boundary. */
function failureOf(e: unknown): WorkerFailure {
  if (e instanceof GroveError) return { kind: 'user', error: e.toJSON() };
  const err = e as NodeJS.ErrnoException;
  // A failed system call (ENOSPC, EIO, EACCES …) is the machine's, not grove's: one line.
  if (err instanceof Error && typeof err.code === 'string' && typeof err.syscall === 'string') {
    return { kind: 'user', error: { code: `GROVE_${err.code}`, message: err.message, path: err.path } };
  }
  const asError = err instanceof Error ? err : new Error(String(e));
  return { kind: 'internal', name: asError.name, message: asError.message, stack: asError.stack ?? `${asError.name}: ${asError.message}` };
}

/** An internal error of a worker thread, rethrown on the main thread with the worker's stack. */
export class WorkerBug extends Error {
  constructor(f: Extract<WorkerFailure, { kind: 'internal' }>) {
    super(f.message);
    this.name = f.name;
    this.stack = `${f.stack}\n    (in a worker thread)`;
  }
}

/** Rebuilds the error a failed reply reports, on the main thread, with its partial result. */
export function errorOf<T>(reply: Extract<Reply<T>, { ok: false }>): Error {
  const f = reply.failure;
  const e = f.kind === 'user' ? GroveError.fromJSON(f.error) : new WorkerBug(f);
  if (reply.partial !== undefined) Object.defineProperty(e, PARTIAL, { value: reply.partial });
  return e;
}
