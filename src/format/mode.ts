/** File type bits of st_mode, as Linux and ostree's objects use them. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const isReg = (mode: number): boolean => (mode & S_IFMT) === S_IFREG;
export const isDir = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR;
export const isLink = (mode: number): boolean => (mode & S_IFMT) === S_IFLNK;

/** Human name of a file type, for error messages. */
export function fileTypeName(mode: number): string {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'regular file';
    case S_IFDIR: return 'directory';
    case S_IFLNK: return 'symbolic link';
    case S_IFCHR: return 'character device';
    case S_IFBLK: return 'block device';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'socket';
    default: return 'unknown file type';
  }
}
