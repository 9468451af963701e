#!/usr/bin/env node
// An independent verdict on a Sigstore bundle: @sigstore/verify, offline (no TUF, no network).
//
// usage: node verify_bundle.js --bundle FILE --trusted-root FILE
//            (--key PEM | --identity SAN --issuer URL)
//            (--artifact FILE | --digest sha256:HEX)
// --trusted-root may be omitted with --key: the key is then the only trust.
// Exit 0 and `OK` = verified; exit 1 and `FAIL: <why>` = rejected; exit 2 = bad usage.
// Message-signature bundles need --artifact (the signature is over its bytes). For DSSE
// bundles the in-toto statement must name the artifact's sha256 among its subjects, as
// every Sigstore client checks; @sigstore/verify leaves that to its caller.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { Verifier, toTrustMaterial, toSignedEntity } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');

function finish(code, line) {
  (code === 0 ? console.log : console.error)(line);
  process.exit(code);
}

function parseArgs(argv) {
  const known = new Set(['bundle', 'trusted-root', 'key', 'identity', 'issuer', 'artifact', 'digest']);
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!known.has(name) || i + 1 >= argv.length) finish(2, `usage: unknown or incomplete option ${argv[i]}`);
    opts[name] = argv[i + 1];
  }
  if (!opts.bundle) finish(2, 'usage: --bundle is required');
  if (!opts.key === !opts.identity) finish(2, 'usage: give exactly one of --key or --identity/--issuer');
  if (opts.identity && (!opts.issuer || !opts['trusted-root'])) finish(2, 'usage: --identity needs --issuer and --trusted-root');
  if (!opts.artifact === !opts.digest) finish(2, 'usage: give exactly one of --artifact or --digest');
  return opts;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const root = opts['trusted-root']
    ? TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(opts['trusted-root'], 'utf8')))
    : { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] };
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(opts.bundle, 'utf8')));
  const artifact = opts.artifact ? fs.readFileSync(opts.artifact) : undefined;
  const wantDigest = artifact ? crypto.createHash('sha256').update(artifact).digest('hex') : opts.digest.replace(/^sha256:/, '');
  const isDsse = bundle.content.$case === 'dsseEnvelope';
  if (!isDsse && !artifact) finish(2, 'usage: a message-signature bundle needs --artifact');

  let keys;
  let options;
  if (opts.key) {
    // The caller's key is the trust; the bundle's hint only names it.
    const publicKey = crypto.createPublicKey(fs.readFileSync(opts.key, 'utf8'));
    keys = () => ({ publicKey, validFor: () => true });
    options = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 };
  }
  const verifier = new Verifier(toTrustMaterial(root, keys), options);
  const policy = opts.identity ? { subjectAlternativeName: opts.identity, extensions: { issuer: opts.issuer } } : undefined;
  verifier.verify(toSignedEntity(bundle, isDsse ? undefined : artifact), policy);

  if (isDsse) {
    const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'));
    const subjects = Array.isArray(statement.subject) ? statement.subject : [];
    if (!subjects.some((s) => s && s.digest && s.digest.sha256 === wantDigest)) {
      finish(1, `FAIL: no in-toto subject has sha256 ${wantDigest}`);
    }
  }
  finish(0, 'OK');
}

try {
  main();
} catch (e) {
  finish(1, `FAIL: ${e.code ? e.code + ' ' : ''}${e.message}`);
}
