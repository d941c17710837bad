import {
  createSessionTokens,
  generateSigningKey,
  sessionLifetimesFromEnv,
} from '../../lib/index.js';

describe('sessionLifetimesFromEnv', () => {
  test('the gateway defaults: 1440 and 20160 minutes', () => {
    expect(sessionLifetimesFromEnv({})).toEqual({ sessionTtlMin: 1_440, refreshTtlMin: 20_160 });
  });

  test('DF_JWT_TTL and DF_JWT_REFRESH_TTL, as a gateway .env sets them', () => {
    expect(sessionLifetimesFromEnv({ DF_JWT_TTL: '60', DF_JWT_REFRESH_TTL: ' 480 ' })).toEqual({
      sessionTtlMin: 60,
      refreshTtlMin: 480,
    });
  });

  test.each(['0', '-5', '1.5', '15m', 'abc', '99999999'])(
    'DF_JWT_TTL=%j names the variable',
    (value) => {
      expect(() => sessionLifetimesFromEnv({ DF_JWT_TTL: value })).toThrow(
        /^DF_JWT_TTL must be a whole number of minutes/,
      );
    },
  );

  test('a refresh window shorter than the session is refused when the service is created', () => {
    expect(() =>
      createSessionTokens({
        issuer: 'https://assistant.example.test',
        signingKeys: [generateSigningKey()],
        ...sessionLifetimesFromEnv({ DF_JWT_TTL: '120', DF_JWT_REFRESH_TTL: '60' }),
      }),
    ).toThrow(/option "refreshTtlMin" must be at least sessionTtlMin \(120\)/);
  });
});
