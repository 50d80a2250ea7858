import { ProtocolError } from '../../src/errors.js';
export { Core, decodeCompact } from '../../src/core/index.js';
export const ProtocolErrorGuard = (e: unknown): e is ProtocolError => e instanceof ProtocolError;
