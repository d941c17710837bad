// See jose-cjs.mjs: require('jose') inside Jest gets the CommonJS bundle of the same source.
const { join } = require('node:path');

const JOSE_CJS = join(__dirname, '..', '..', 'node_modules', '.cache', 'eip-test', 'jose.cjs');

module.exports = (request, options) => {
  if (request === 'jose' && options.conditions?.includes('require')) return JOSE_CJS;
  return options.defaultResolver(request, options);
};
