// A real OpenID provider for the workload identity federation interop tests
// (testing-and-dependencies.md §3): panva oidc-provider with one confidential client that gets
// RS256 JWT access tokens by the client-credentials grant with a resource indicator.
//
// Usage: node idp.mjs --port PORT --key-dir DIR
//   PORT 0 picks a free port. The signing key is kept in DIR/idp-signing-key.json (made on first
//   start, mode 0600), so tokens stay verifiable across restarts.
//   Client id "wif-client"; its secret comes from the environment variable IDP_CLIENT_SECRET.
// When ready it prints one line: "IDP_READY http://127.0.0.1:PORT".
// Listens on 127.0.0.1 only.

import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Provider from 'oidc-provider';

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`idp.mjs: missing --${name}`);
    process.exit(2);
  }
  return process.argv[i + 1];
}

const port = Number(arg('port'));
const keyDir = arg('key-dir');
const secret = process.env.IDP_CLIENT_SECRET;
if (!secret) {
  console.error('idp.mjs: set IDP_CLIENT_SECRET');
  process.exit(2);
}

mkdirSync(keyDir, { recursive: true, mode: 0o700 });
const keyFile = join(keyDir, 'idp-signing-key.json');
if (!existsSync(keyFile)) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
  writeFileSync(keyFile, JSON.stringify(jwk), { mode: 0o600 });
}
const signingKey = JSON.parse(readFileSync(keyFile, 'utf8'));

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'wif-client',
      client_secret: secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signingKey] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:oci:wif',
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: 'oci',
          audience: resource,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: () => ({ email: 'workload@example.test', groups: ['ci', 'deployers'] }),
  });
  server.on('request', provider.callback());
  console.log(`IDP_READY ${issuer}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
