/**
 * grove's library API: everything the CLI does, with types. The CLI in src/cli is one client.
 */
export { GroveError, type SerializedError } from './errors.js';
export { Repo } from './repo/repo.js';
export { REPO_MODES, parseRepoMode, type RepoMode } from './repo/mode.js';
export { Transaction } from './repo/transaction.js';
export { listRefs, readRef, writeRef } from './repo/refs.js';
export { openContent, type ContentObject } from './store/read-content.js';
export { commitTree, type CommitOptions, type CommitResult, type CommitStats } from './commit/commit.js';
export { readSkipList, readStatOverride } from './commit/filters.js';
export { checkoutTree, type CheckoutOptions, type CheckoutStats } from './checkout/checkout.js';
export { fsckRepo, type FsckResult, type FsckProblem } from './fsck/fsck.js';
export { lsLines, type LsOptions } from './inspect/ls.js';
export { logText } from './inspect/log.js';
export { describeCommit, contentChecksum } from './inspect/describe.js';
export { WorkerPool } from './pool/pool.js';
export * as gvariant from './format/gvariant.js';
export * as objects from './format/objects.js';
export { KeyFile } from './format/keyfile.js';
export { sha256Factory, HASH_BACKENDS, type HashBackend } from './format/hash.js';
export { COMPRESS_BACKENDS, type CompressBackend } from './format/compress.js';
export { encodeSummary, decodeSummary, type Summary, type SummaryRef } from './format/summary.js';
export { regenerateSummary, readLocalSummary, describeSummary } from './net/summary.js';
export { serveRepo, type ServeOptions, type RepoServer } from './net/serve.js';
export { addRemote, deleteRemote, getRemote, listRemotes, importRemoteGpgKeys, type Remote, type AddRemoteOptions } from './net/remotes.js';
export { openSource, remotePolicy, fetchRemoteSummary } from './net/remote-source.js';
export { HttpSource, LocalSource, type ObjectSource } from './net/sources.js';
export { pullInto, sourceRefs, type PullOptions, type PullResult, type PullTarget, type PullPolicy, type PullProgress } from './net/pull.js';
export { signCommit, signSummary, addSignatures, requireSignature, type SignWith, type TrustedKeys } from './sign/signatures.js';
export { generateKeyPair as generateEd25519KeyPair } from './sign/ed25519.js';
export { initFs, initOs } from './deploy/sysroot.js';
export { listDeployments, loadSysroot, describeStatus, type Deployment, type SysrootState } from './deploy/deployments.js';
export { deploy, undeploy, setDefault, cleanup as cleanupSysroot, kargsEditInPlace, type DeployOptions, type DeployResult } from './deploy/operations.js';
export { upgrade, switchRef, type UpgradeOptions, type UpgradeResult } from './deploy/upgrade.js';
export { KernelArgs } from './deploy/kargs.js';
export { pruneRepo, type PruneResult } from './repo/prune.js';
