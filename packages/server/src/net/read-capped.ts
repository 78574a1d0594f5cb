/**
 * Reads a body (a Node stream or a fetch body: both are async-iterable) up to `max` bytes. Over the
 * cap it stops reading, which releases the source (a Node stream is destroyed, a fetch body
 * cancelled), and answers the first `max` bytes with `truncated: true`.
 */
export async function readCapped(body: AsyncIterable<Uint8Array>, max: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const room = max - size;
    if (b.length > room) {
      chunks.push(b.subarray(0, room));
      return { bytes: Buffer.concat(chunks, max), truncated: true };
    }
    chunks.push(b);
    size += b.length;
  }
  return { bytes: Buffer.concat(chunks, size), truncated: false };
}
