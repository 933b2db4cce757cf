import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountinfo, userVisible } from '../../src/net/find-remotes/mounts.js';

/**
 * Which mounts the mount finder looks at: GLib's rules for a user-visible mount, applied to
 * mountinfo lines (the interop suite checks the whole against ostree on a real volume; this
 * runs without root).
 */

// Made-up devices: GLib hides a mount of an existing block device whose mount point it cannot enter.
const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '30 22 0:26 / /media rw shared:9 - tmpfs none rw',
  '31 30 7:0 / /media/usb rw,relatime - ext4 /dev/grove-test-0 rw',
  '32 30 7:1 / /media/my\\040stick rw - vfat /dev/grove-test-1 rw',
  '33 30 7:2 /sub /media/bound rw - ext4 /dev/grove-test-2 rw',
  '34 30 0:40 / /media/ram rw - tmpfs tmpfs rw',
  '35 22 7:3 / /run/media/alice/disk rw - ext4 /dev/grove-test-3 rw',
  '36 22 7:4 / /home/alice/.hidden/disk rw - ext4 /dev/grove-test-4 rw',
  '37 22 7:5 / /home/alice/disk rw - fuse.sshfs host:/ rw',
  '38 22 7:6 / /mnt/disk rw - ext4 /dev/grove-test-6 rw',
  '39 22 0:50 / /media/none rw - ext4 none rw',
].join('\n');

test('mountinfo lines are read with their escapes, root and source', () => {
  const m = parseMountinfo(MOUNTINFO);
  assert.equal(m.length, 11);
  assert.deepEqual(m[3], { root: '/', mountPath: '/media/my stick', fsType: 'vfat', device: '/dev/grove-test-1' });
  assert.equal(m[4]!.root, '/sub');
});

test('only mounts below /media, /run/media and the home directory, not system ones, are seen', () => {
  const visible = (uid: number) => parseMountinfo(MOUNTINFO).filter((m) => userVisible(m, uid, 'alice', '/home/alice')).map((m) => m.mountPath);
  assert.deepEqual(visible(0), ['/media/usb', '/media/my stick', '/run/media/alice/disk', '/home/alice/disk']);
  // Others than root see /run/media/$USER only.
  assert.deepEqual(parseMountinfo('1 1 7:3 / /run/media/bob/disk rw - ext4 /dev/grove-test-3 rw').filter((m) => userVisible(m, 1000, 'alice', '/home/alice')), []);
});
