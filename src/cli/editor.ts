import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GroveError } from '../errors.js';

/**
 * `commit --editor`: the commit message from an editor, as ostree (after git) asks for it:
 * $OSTREE_EDITOR, else $VISUAL unless the terminal is dumb, else $EDITOR, else vi (none on a
 * dumb terminal); run through /bin/sh on a temp file holding the instructions, the branch and
 * the subject given so far. The first line that is not a comment becomes the subject, the rest
 * the body.
 */
export function editCommitMessage(branch: string | undefined, subject: string | undefined): { subject: string; body: string | undefined } {
  const term = process.env['TERM'];
  const dumb = !term || term === 'dumb';
  let editor = process.env['OSTREE_EDITOR'];
  if (editor === undefined && !dumb) editor = process.env['VISUAL'];
  if (editor === undefined) editor = process.env['EDITOR'];
  if (editor === undefined && dumb) throw new GroveError('GROVE_NO_EDITOR', 'Terminal is dumb, but EDITOR unset');
  editor ??= 'vi';
  const input = '\n'
    + '# Please enter the commit message for your changes. The first line will\n'
    + '# become the subject, and the remainder the body. Lines starting\n'
    + "# with '#' will be ignored, and an empty message aborts the commit."
    + (branch !== undefined ? `\n#\n# Branch: ${branch}` : '')
    + (subject ? `\n${subject}` : '')
    + '\n';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grove-editor-'));
  const file = path.join(dir, 'COMMIT_MSG');
  try {
    fs.writeFileSync(file, input);
    const r = spawnSync('/bin/sh', ['-c', `${editor} '${file.replace(/'/g, "'\\''")}'`], { stdio: 'inherit' });
    if (r.status !== 0) {
      const why = r.signal ? `Child process killed by signal ${r.signal}` : `Child process exited with code ${r.status}`;
      throw new GroveError('GROVE_EDITOR_FAILED', `There was a problem with the editor '${editor}'${why}`);
    }
    return parseMessage(fs.readFileSync(file, 'utf8'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function parseMessage(text: string): { subject: string; body: string | undefined } {
  let subject: string | undefined;
  let body: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (line.startsWith('#')) continue;
    if (line === '' && body === undefined) continue;
    if (subject === undefined) subject = line;
    else if (body === undefined) body = line;
    else body += `\n${line}`;
  }
  if (subject === undefined) throw new GroveError('GROVE_EMPTY_MESSAGE', 'Aborting commit due to empty commit subject.');
  return { subject, body: body?.replace(/\s+$/, '') };
}
