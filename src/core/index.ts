/** Public surface of the protocol core (architecture.md "Core contract"). */
export { Core } from './core.js';
export type {
  CoreConfig, CoreDeps, Input, Effect, SendEffect, DirectiveEffect, TimerEffect, RecordEffect, StateEffect, FenceEffect, ReplyEffect,
} from './core.js';
export { Execution, worse, type Checkpoint } from './checkpoint.js';
export { Dependencies, type Consumption, type Dependent } from './dependency.js';
export { memberTarget, taintedDependents, type TaintedDependent } from './taint.js';
export { memberStates, memberEvents, memberTransitions, memberNext, memberTransition, type MemberState, type MemberEvent } from './member.js';
export {
  setStates, setEvents, setTransitions, setNext, setTransition, aggregateEntries, aggregateOutcome, prefer, sameSet,
  type SetState, type SetEvent,
} from './rollback-set.js';
export { hashPayload, verifyRecordChain, type ChainBreak, type ChainResult, type ChainEntry } from './record.js';
export * from './types.js';
export { Simulator, ed25519Signer, ed25519Verify, decodeCompact, prng, type SimOptions, type SimNode, type SimError, type AgentBehaviour } from './simulator.js';
