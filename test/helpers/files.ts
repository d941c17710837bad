import { readFileSync } from 'node:fs';

/** The JSON lines of a file once it holds `count` of them (loggers write asynchronously); 5 s at most. */
export async function waitForJsonLines(
  file: string,
  count: number,
): Promise<Record<string, unknown>[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not created yet
    }
    const lines = text.split('\n').filter((line) => line !== '');
    if (lines.length >= count)
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${file} never reached ${count} lines`);
}
