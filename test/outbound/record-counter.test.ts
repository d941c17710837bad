import { JsonRecordCounter } from '../../lib/outbound/record-counter.js';

function count(text: string, chunkSize = text.length): number | null {
  const counter = new JsonRecordCounter();
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += Math.max(1, chunkSize))
    counter.push(bytes.subarray(i, i + chunkSize));
  return counter.result();
}

describe('JsonRecordCounter', () => {
  test.each([
    ['[]', 0],
    ['[ ]', 0],
    ['[1]', 1],
    ['[1,2,3]', 3],
    ['[{"a":[1,2,3]},{"b":{"c":[4,5]}}]', 2],
    ['["a,b","c]d","e\\"],f"]', 3],
    ['{"resource":[]}', 0],
    ['{"resource":[{"id":1},{"id":2}]}', 2],
    ['{"meta":{"resource":[1,2,3]},"resource":[{"x":"]"}]}', 1],
    ['{"count":9,"resource":[1,2,3,4],"after":[1]}', 4],
    ['{"res\\"ource":[1,2],"resource":[1]}', 1],
    ['\n  [\n 1 ,\n 2 ]\n', 2],
  ])('%s has %s records', (text, expected) => {
    expect(count(text)).toBe(expected);
    // The same at every chunk boundary, one byte at a time and in threes.
    expect(count(text, 1)).toBe(expected);
    expect(count(text, 3)).toBe(expected);
  });

  test.each([
    ['{"data":[1,2]}'],
    ['{"resource":"not an array"}'],
    ['"a string"'],
    ['42'],
    ['<html>'],
    ['[1,2'],
    [''],
  ])('%j has no record count', (text) => {
    expect(count(text)).toBeNull();
  });

  test('multi-byte characters split across chunks do not confuse it', () => {
    expect(count('[{"name":"Zoë, ☃"},{"name":"日本,語"}]', 1)).toBe(2);
  });

  test('a large array is counted without keeping it', () => {
    const items = Array.from({ length: 10_000 }, (_, i) => `{"id":${i},"note":"a,b]"}`);
    expect(count(`{"resource":[${items.join(',')}]}`, 4096)).toBe(10_000);
  });
});
