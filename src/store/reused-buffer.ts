/**
 * A buffer a thread reads into again and again, grown to the largest read so far (at least
 * 64 KiB): for a reader that is done with the bytes before its next read, which then allocates
 * nothing per read. Each user keeps its own, so that one's bytes are never another's.
 */
export class ReusedBuffer {
  private buf = Buffer.alloc(0);

  /** `size` bytes of the buffer, valid until the next call. */
  take(size: number): Buffer {
    if (this.buf.length < size) this.buf = Buffer.allocUnsafe(Math.max(size, 64 << 10));
    return this.buf.subarray(0, size);
  }
}
