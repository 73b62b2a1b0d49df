// A provider we control, for the refusals of crates/wmill-server/tests/oidc.rs: discovery,
// JWKS and a token endpoint whose ID token is made wrong on purpose. Usage:
//   node signer.mjs CLIENT_ID
// Prints `listening on http://127.0.0.1:PORT`. Two issuers: `/main` and `/rot` (whose JWKS
// gains the key `k3` after its first fetch: a key rotation). The code given to the token
// endpoint is `CASE.NONCE`; CASE picks the ID token:
//   ok, wrong_iss, wrong_aud, expired, future_iat, bad_nonce, alg_none, hs256,
//   unknown_kid, rotated, tampered, unverified, azp_other
// GET /stats answers how many times each JWKS was fetched.
import http from 'node:http';
import * as jose from 'jose';

const [clientId, clientSecret] = process.argv.slice(2);
const k1 = await jose.generateKeyPair('RS256', { extractable: true });
const k2 = await jose.generateKeyPair('RS256', { extractable: true });
const k3 = await jose.generateKeyPair('RS256', { extractable: true });
const pub = async (k, kid) => ({ ...(await jose.exportJWK(k.publicKey)), kid, alg: 'RS256', use: 'sig' });
const jwk1 = await pub(k1, 'k1');
const jwk3 = await pub(k3, 'k3');
const fetches = { main: 0, rot: 0 };

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const base = `http://127.0.0.1:${server.address().port}`;
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === '/stats') return send(200, fetches);
  const m = url.pathname.match(/^\/(main|rot)(\/.*)$/);
  if (!m) return send(404, { error: 'not_found' });
  const [, tenant, path] = m;
  const issuer = `${base}/${tenant}`;
  if (path === '/.well-known/openid-configuration') {
    return send(200, {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      // A provider that says it would sign with none or HS256 must not get them accepted.
      id_token_signing_alg_values_supported: ['RS256', 'HS256', 'none'],
    });
  }
  if (path === '/jwks') {
    fetches[tenant] += 1;
    const keys = tenant === 'rot' && fetches.rot > 1 ? [jwk1, jwk3] : [jwk1];
    return send(200, { keys });
  }
  if (path === '/token' && req.method === 'POST') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const code = new URLSearchParams(body).get('code') || '';
    const dot = code.indexOf('.');
    const kase = code.slice(0, dot);
    const nonce = code.slice(dot + 1);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer,
      aud: clientId,
      sub: `sub-${kase}`,
      email: `${kase.replace(/_/g, '-')}@signer.test`,
      email_verified: true,
      nonce,
      iat: now,
      exp: now + 300,
    };
    let key = k1.privateKey;
    let header = { alg: 'RS256', kid: 'k1' };
    switch (kase) {
      case 'ok': break;
      case 'wrong_iss': claims.iss = `${base}/elsewhere`; break;
      case 'wrong_aud': claims.aud = 'another-client'; break;
      case 'expired': claims.iat = now - 4000; claims.exp = now - 3600; break;
      case 'future_iat': claims.iat = now + 3600; claims.exp = now + 4000; break;
      case 'bad_nonce': claims.nonce = 'not-the-nonce'; break;
      case 'unverified': claims.email_verified = false; break;
      case 'azp_other': claims.aud = [clientId, 'another-client']; claims.azp = 'another-client'; break;
      case 'unknown_kid': key = k2.privateKey; header = { alg: 'RS256', kid: 'k2' }; break;
      case 'rotated': key = k3.privateKey; header = { alg: 'RS256', kid: 'k3' }; break;
      default: break;
    }
    let idToken;
    if (kase === 'alg_none') {
      const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      idToken = `${b64({ alg: 'none' })}.${b64(claims)}.`;
    } else if (kase === 'hs256') {
      idToken = await new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(clientSecret));
    } else {
      idToken = await new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
      if (kase === 'tampered') {
        // The payload changed after signing: another person's email, same signature.
        const [h, , s] = idToken.split('.');
        const forged = Buffer.from(JSON.stringify({ ...claims, email: 'admin@windmill.dev' })).toString('base64url');
        idToken = `${h}.${forged}.${s}`;
      }
    }
    return send(200, {
      access_token: `at-${kase}`,
      token_type: 'Bearer',
      expires_in: 300,
      id_token: idToken,
    });
  }
  return send(404, { error: 'not_found' });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
