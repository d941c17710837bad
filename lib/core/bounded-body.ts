/**
 * Reads a response body as text, refusing it once it passes `maxBytes`, whether or not the
 * sender declared a length: a broken or hostile server cannot make us buffer without bound.
 */
export async function readBoundedText(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes || response.body === null) {
    await response.body?.cancel();
    if (declared > maxBytes) throw new RangeError(`response body larger than ${maxBytes} bytes`);
    return '';
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      // Breaking out of the loop cancels the stream and releases the connection.
      throw new RangeError(`response body larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
