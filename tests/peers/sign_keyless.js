#!/usr/bin/env node
// Keyless signing with sigstore-js (npm `sigstore`), a client independent of slsacheck and
// of sigstore-python, against the loopback mock Sigstore (mock_sigstore.js).
//
// usage: node sign_keyless.js BASE_URL TOKEN_FILE ARTIFACT OUT_BUNDLE [dsse]
//   default: a message-signature bundle over ARTIFACT's bytes;
//   dsse:    ARTIFACT is an in-toto Statement, signed as a DSSE envelope.
// Exit 0 after writing OUT_BUNDLE (Sigstore bundle JSON); exit 1 with the reason otherwise.
'use strict';
const fs = require('fs');
const sigstore = require('sigstore');

const [base, tokenFile, artifactPath, outPath, mode] = process.argv.slice(2);
if (!outPath || (mode && mode !== 'dsse')) {
  console.error('usage: node sign_keyless.js BASE_URL TOKEN_FILE ARTIFACT OUT_BUNDLE [dsse]');
  process.exit(2);
}
const options = {
  fulcioURL: base,
  rekorURL: base,
  tsaServerURL: base,
  tlogUpload: true,
  identityToken: fs.readFileSync(tokenFile, 'utf8').trim(),
};
const artifact = fs.readFileSync(artifactPath);
const signing = mode === 'dsse'
  ? sigstore.attest(artifact, 'application/vnd.in-toto+json', options)
  : sigstore.sign(artifact, options);
signing.then(
  (bundle) => {
    fs.writeFileSync(outPath, JSON.stringify(bundle));
    console.log(`signed ${outPath}`);
  },
  (e) => {
    console.error(`FAIL: ${e.message}${e.cause ? ` (${e.cause.message})` : ''}`);
    process.exit(1);
  },
);
