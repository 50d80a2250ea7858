export { openLog, defaultIO, type Log, type LogEntry, type AppendResult, type OpenOptions, type StoreIO, type StoreLogger } from './log.js';
export { verifyLog, readLog, receivedStatements, verifyReceived, type VerifyResult, type ReceivedStatement, type ReceivedResult } from './verify.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export { MAX_PAYLOAD } from './format.js';
