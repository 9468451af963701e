#!/bin/sh
# The webhook's serving certificate without cert-manager: a private CA and a server
# certificate for the Service's DNS names, made with openssl.
#
#   deploy/gen-certs.sh --out DIR        write ca.crt, tls.crt, tls.key (and nothing else)
#   deploy/gen-certs.sh --apply          also create/replace the Secret slsacheck-webhook-tls
#                                        and set caBundle in both webhook configurations
#
# Options: --namespace NS (slsacheck-system), --service NAME (slsacheck-webhook),
# --days N (365), --san NAME (repeatable: another DNS name, or IP:ADDRESS, the certificate
# also serves, e.g. a webhook reached by URL outside the cluster).
# The CA key is deleted when done: nothing can issue another
# certificate under this CA; run the script again to rotate (then restart the pods).
set -eu

namespace=slsacheck-system
service=slsacheck-webhook
days=365
out=
apply=no
extra_sans=
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --namespace) namespace=$2; shift 2 ;;
    --service) service=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --san)
      case "$2" in
        IP:*|DNS:*) san="$2" ;;
        *[!A-Za-z0-9.*-]*|"") echo "gen-certs.sh: --san $2 is not a DNS name (or IP:ADDRESS)" >&2; exit 2 ;;
        *) san="DNS:$2" ;;
      esac
      extra_sans="$extra_sans,$san"; shift 2 ;;
    --apply) apply=yes; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "gen-certs.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ]; then
  out=$(mktemp -d)
fi
mkdir -p "$out"
umask 077

dns1="$service.$namespace.svc"
dns2="$service.$namespace.svc.cluster.local"

openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$days" -subj "/CN=$service webhook CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$out/ca.crt"

openssl ecparam -name prime256v1 -genkey -noout -out "$out/tls.key.ec"
openssl pkcs8 -topk8 -nocrypt -in "$out/tls.key.ec" -out "$out/tls.key"
rm -f "$out/tls.key.ec"
openssl req -new -key "$out/tls.key" -subj "/CN=$dns1" -out "$out/tls.csr"
cat > "$out/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$dns1,DNS:$dns2$extra_sans
EXT
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days "$days" -sha256 -extfile "$out/ext.cnf" -out "$out/tls.crt"
rm -f "$out/ca.key" "$out/ca.srl" "$out/tls.csr" "$out/ext.cnf"
chmod 644 "$out/ca.crt" "$out/tls.crt"
echo "wrote $out/ca.crt $out/tls.crt $out/tls.key for $dns1$(echo "$extra_sans" | tr ',' ' ')" >&2

if [ "$apply" = yes ]; then
  kubectl -n "$namespace" create secret tls slsacheck-webhook-tls \
    --cert="$out/tls.crt" --key="$out/tls.key" --dry-run=client -o yaml | kubectl apply -f -
  bundle=$(base64 < "$out/ca.crt" | tr -d '\n')
  for kind in validatingwebhookconfiguration mutatingwebhookconfiguration; do
    kubectl patch "$kind" "$service" --type=json \
      -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$bundle\"}]"
  done
  echo "Secret $namespace/slsacheck-webhook-tls and caBundle set; restart the pods to serve the new certificate:" >&2
  echo "  kubectl -n $namespace rollout restart deployment/$service" >&2
fi
