import { requestIdFrom } from '../../lib/core/request-id.js';

describe('requestIdFrom', () => {
  const generate = () => 'generated';
  test.each([
    [{ 'x-request-id': 'abc-123' }, 'abc-123'],
    [{ 'x-request-id': 'a'.repeat(129) }, 'generated'],
    [{ 'x-request-id': 'line\nbreak' }, 'generated'],
    [
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      '4bf92f3577b34da6a3ce929d0e0e4736',
    ],
    [{ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }, 'generated'],
    [{ traceparent: 'garbage' }, 'generated'],
    [
      {
        'x-request-id': 'given',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      },
      'given',
    ],
    [{}, 'generated'],
  ])('%j gives %s', (headers, expected) => {
    expect(requestIdFrom(headers, generate)).toBe(expected);
  });
});
