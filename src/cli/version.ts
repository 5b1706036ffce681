// The version --version prints: package.json's, baked into dist/cli.js by scripts/build.mjs (esbuild `define`), so
// the CLI never reads package.json at run time. Run from the sources (tests, tsx) it is a development build.
declare const DYNAMIC_ENV_VERSION: string | undefined;

export const VERSION: string = typeof DYNAMIC_ENV_VERSION === 'string' ? DYNAMIC_ENV_VERSION : '0.0.0-dev';
