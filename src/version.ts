/** Protocol version implemented by this node (draft-marp-agent-rollback-00). */
export const PROTOCOL_VERSION = 1;
