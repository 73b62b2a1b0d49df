// A real OpenID provider (oidc-provider, with its development login form) on loopback, for
// crates/wmill-server/tests/oidc.rs. Usage:
//   node provider.mjs CLIENT_ID CLIENT_SECRET REDIRECT_URI
// Listens on a free port of 127.0.0.1 and prints `listening on http://127.0.0.1:PORT`.
// Any login works; the login is the account's email. Emails that start with
// `unverified` come with email_verified=false; every account is in the group `eng`.
import Provider from 'oidc-provider';

const [clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error('usage: node provider.mjs CLIENT_ID CLIENT_SECRET REDIRECT_URI');
  process.exit(2);
}

async function main() {
  const http = await import('node:http');
  const server = http.createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    // The claims in the ID token itself, as Keycloak, Okta or Entra ID put them there.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ['wmill-test-cookie-key'] },
    findAccount: async (ctx, id) => ({
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: id,
          email_verified: !id.startsWith('unverified'),
          name: `Person ${id}`,
          groups: ['eng'],
        };
      },
    }),
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  console.log(`listening on ${issuer}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
