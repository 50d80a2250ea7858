/**
 * Errors of the embedded store. These are local (operator-facing) failures,
 * not protocol error codes: they never go on the wire, so they are not part
 * of the registry in src/errors.ts.
 */
export type StoreErrorCode =
  /** The log file fails verification (bad header, frame or chain). */
  | 'log_corrupt'
  /** The header names a format version this code does not read. */
  | 'log_version'
  /** Another live process (or this one) holds the log's lock file. */
  | 'log_locked'
  /** verifyLog: no file at the path. */
  | 'log_missing'
  /** append after close(). */
  | 'log_closed'
  /** A write or fsync failed; this append was not made durable. */
  | 'log_io'
  /** append after an earlier write/fsync failure: the handle is unusable. */
  | 'log_failed'
  /** The body cannot be serialised as JSON or is too large. */
  | 'entry_invalid';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  /** Byte offset in the log file the error refers to, when there is one. */
  readonly offset: number | undefined;
  /** Entry index (0-based) the error refers to, when there is one. */
  readonly index: number | undefined;
  constructor(
    code: StoreErrorCode,
    message: string,
    options: { offset?: number; index?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
    this.offset = options.offset;
    this.index = options.index;
  }
}
