/**
 * Counts the records of a JSON response as its bytes stream past, without keeping them: the
 * elements of a top-level array, or of DreamFactory's `{"resource": [...]}` envelope.
 *
 * Written by hand because the audit needs one number, not the data: a streaming JSON parser
 * would build every value only to discard it, and buffering the body to `JSON.parse` it would
 * hold the response twice. This scanner tracks strings and nesting depth, and counts the
 * commas of one array.
 */
export class JsonRecordCounter {
  private readonly decoder = new TextDecoder();
  // Only the depth and the root's kind matter; a stack of brackets would let a body of
  // '[[[[...' cost memory in proportion to its size.
  private depth = 0;
  private root: '[' | '{' | undefined;
  private inString = false;
  private escaped = false;
  private expectingKey = false;
  /** The top-level key being read, and the last one read. */
  private key: string | undefined;
  private lastKey: string | undefined;
  /** The depth of the array whose elements are counted, once found. */
  private countedDepth: number | undefined;
  private commas = 0;
  private hasElement = false;
  private finished = false;
  private invalid = false;

  push(chunk: Uint8Array): void {
    if (this.stopped) return;
    for (const char of this.decoder.decode(chunk, { stream: true })) {
      if (!this.advance(char)) return;
    }
  }

  /** Once the count is known (or known to be unknowable), the rest of the body is skipped. */
  private get stopped(): boolean {
    return this.invalid || this.finished;
  }

  private advance(char: string): boolean {
    this.step(char);
    return !this.stopped;
  }

  /** The number of records, or null when the body is not one of the two shapes (or is cut). */
  result(): number | null {
    if (this.invalid || !this.finished) return null;
    return this.hasElement ? this.commas + 1 : 0;
  }

  private step(char: string): void {
    if (this.inString) {
      this.stepInString(char);
      return;
    }
    if (char === ' ' || char === '\n' || char === '\r' || char === '\t') return;
    const depth = this.depth;
    if (depth === 0 && char !== '[' && char !== '{') {
      this.invalid = true;
      return;
    }
    if (depth === this.countedDepth) {
      if (char === ']') {
        this.finished = true;
        return;
      }
      if (char === ',') this.commas += 1;
      else this.hasElement = true;
    }
    const inTopObject = depth === 1 && this.root === '{';
    switch (char) {
      case '"':
        this.inString = true;
        if (inTopObject && this.expectingKey) this.key = '';
        break;
      case ':':
        if (inTopObject) this.expectingKey = false;
        break;
      case ',':
        if (inTopObject) this.expectingKey = true;
        break;
      case '[':
        if (depth === 0) {
          this.countedDepth = 1;
          this.root = '[';
        } else if (inTopObject && this.lastKey === 'resource' && this.countedDepth === undefined) {
          this.countedDepth = 2;
        }
        this.depth += 1;
        break;
      case '{':
        if (depth === 0) {
          this.expectingKey = true;
          this.root = '{';
        }
        this.depth += 1;
        break;
      case '}':
      case ']':
        this.depth -= 1;
        // The whole document closed without the array to count: not a shape we know.
        if (this.depth <= 0) this.invalid = true;
        break;
      default:
        break;
    }
  }

  private stepInString(char: string): void {
    if (this.escaped) {
      this.escaped = false;
    } else if (char === '\\') {
      this.escaped = true;
    } else if (char === '"') {
      this.inString = false;
      if (this.key !== undefined) {
        this.lastKey = this.key;
        this.key = undefined;
      }
      return;
    }
    // Keys longer than any we look for are cut short; they can never equal "resource".
    if (this.key !== undefined && this.key.length <= 16) this.key += char;
  }
}
