/**
 * A test hook for the kill -9 tests: with `GROVE_TEST_CRASH_AT=N` in the environment, the Nth
 * crash point reached kills the process with SIGKILL, exactly as a power cut or an OOM kill
 * would stop it between two steps. The points sit between every pair of file-system changes of
 * a deploy, so a test can stop it at each of them in turn. Without the variable this is a no-op.
 */
let remaining = Number(process.env['GROVE_TEST_CRASH_AT'] ?? 0) || 0;

export function crashPoint(): void {
  if (remaining > 0 && --remaining === 0) process.kill(process.pid, 'SIGKILL');
}
