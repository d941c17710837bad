#!/usr/bin/env bash
# A throwaway Active Directory domain controller (Samba 4, Debian's `samba` package) on 127.0.0.1,
# for tests of AD-only LDAP behaviour that no generic LDAP server reproduces: the bind failure
# sub-codes in the diagnostic message ("AcceptSecurityContext error, data 52e/533/701/773/775"),
# the in-chain matching rule 1.2.840.113556.1.4.1941 over nested groups, UPN binds
# (alice@example.test), referrals to the Configuration partition in subtree searches, and
# "Transport encryption required" when strong auth is on.
#
#   samba-ad.sh install            install the Debian packages (root + apt-get only)
#   samba-ad.sh provision DIR      new domain EXAMPLE.TEST in DIR (must not exist or be empty)
#   samba-ad.sh seed DIR           the test users, groups and policies (offline, no server needed)
#   samba-ad.sh clone SRC DIR      copy a provisioned DIR to DIR (Samba stores absolute paths)
#   samba-ad.sh start DIR          run the DC in the foreground; it exits when stdin closes
#
# By hand: `samba-ad.sh provision /tmp/ad && samba-ad.sh seed /tmp/ad && samba-ad.sh start /tmp/ad`,
# then e.g. `ldapsearch -x -H ldap://127.0.0.1 -D alice@example.test -w 'Alice-Passw0rd!'
# -b DC=example,DC=test '(sAMAccountName=alice)'`; Ctrl-D or Ctrl-C stops it. Tests use
# test/helpers/samba-ad.ts, which caches one provisioned, seeded template and clones it per DC.
#
# Everything lives in DIR: nothing in /etc, /var or /run is read or written, so any number of
# domains can exist side by side (only one can run at a time: Samba's LDAP port is always 389).
# Running needs root: port 389 is privileged.
#
# Installing the packages on a host with systemd may start Debian's own smbd, nmbd and winbind
# services (containers' policy-rc.d usually prevents that); nothing here uses them.
# Package names and the smb.conf options are those of Samba 4.17 (Debian 12).
set -euo pipefail

readonly REALM=EXAMPLE.TEST
readonly DOMAIN=EXAMPLE
readonly BASE_DN='DC=example,DC=test'
readonly ADMIN_PASSWORD='Admin-Passw0rd!'
# samba-ad-provision holds the AD schema files; samba-ad-dc only recommends it, so
# --no-install-recommends would leave `samba-tool domain provision` failing without it.
readonly PACKAGES=(samba samba-ad-dc samba-ad-provision openssl)
readonly APT_LINE="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES[*]}"
# Samba's Python modules live in Debian's interpreter; a pyenv or venv python3 on PATH lacks them.
readonly PYTHON=/usr/bin/python3

die() {
  echo "samba-ad: $*" >&2
  exit 1
}

usage() {
  grep '^#   samba-ad.sh ' "$0" | sed 's/^# *//' >&2
  exit 2
}

have_samba() {
  command -v samba >/dev/null && command -v samba-tool >/dev/null &&
    [[ -d /usr/share/samba/setup/ad-schema ]] && command -v openssl >/dev/null
}

install_samba() {
  have_samba && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    die "Samba is not installed and this is not root with apt-get; install it with: sudo $APT_LINE"
  fi
  echo "samba-ad: installing ${PACKAGES[*]}" >&2
  # Another apt/dpkg run may hold the lock for a while; apt waits for it up to this timeout.
  local apt=(apt-get -o DPkg::Lock::Timeout=120 install -y --no-install-recommends --no-upgrade "${PACKAGES[@]}")
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}"; then
    # A fresh container has no package lists yet.
    apt-get -o DPkg::Lock::Timeout=120 update
    DEBIAN_FRONTEND=noninteractive "${apt[@]}"
  fi
  have_samba || die "Samba is still missing after: $APT_LINE"
}

# An empty file, so that provisioning copies nothing from the host's /etc/samba/smb.conf
# (Debian's default one would add printer shares, PAM and passwd-sync settings).
empty_conf() {
  local conf="$1/etc/empty.conf"
  mkdir -p "$1/etc"
  : >"$conf"
  echo "$conf"
}

provision() {
  local dir="$1"
  install_samba
  [[ ! -e $dir || -z "$(ls -A "$dir")" ]] || die "$dir is not empty"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  # --option values land in [global]. Only the LDAP service runs (no smbd, KDC, DNS, RPC): it
  # starts in well under a second and opens nothing but the LDAP ports (389, 636, 3268, 3269).
  # 127.0.0.1 rather than `lo` keeps it off ::1. Without the pid, socket and log options Samba
  # would use /run/samba and /var/log/samba.
  samba-tool domain provision -s "$(empty_conf "$dir")" --targetdir="$dir" \
    --realm="$REALM" --domain="$DOMAIN" --host-name=dc1 --server-role=dc \
    --dns-backend=NONE --use-rfc2307 --adminpass="$ADMIN_PASSWORD" \
    --option='interfaces=127.0.0.1' --option='bind interfaces only=yes' \
    --option='server services=ldap' \
    --option="log file=$dir/log/%m.log" --option="pid directory=$dir/run" \
    --option="ncalrpc dir=$dir/run/ncalrpc" \
    --option="winbindd socket directory=$dir/run/winbindd" \
    --option="ntp signd socket directory=$dir/run/ntp_signd" \
    >"$dir/provision.log" 2>&1 || {
    tail -n 20 "$dir/provision.log" >&2
    die "samba-tool domain provision failed (full log: $dir/provision.log)"
  }
  rm -f "$dir/etc/empty.conf"
  # Provisioning drops this one from --option. With the default (yes) simple binds on port 389
  # fail with "BindSimple: Transport encryption required"; tests bind on both 389 and 636.
  sed -i '/^\[global\]/a\	ldap server require strong auth = no' "$dir/etc/smb.conf"
  mkdir -p "$dir/log" "$dir/run"
  make_tls "$dir/private/tls"
}

# Samba would generate a certificate for "DC1.example.test" without subjectAltName, which no
# TLS client accepts for ldaps://127.0.0.1. This one names 127.0.0.1, ::1, localhost and
# dc1.example.test; tests trust ca.pem. Samba reads tls/{key,cert,ca}.pem in the private dir.
make_tls() {
  local tls="$1"
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca-key.pem -out ca.pem \
      -subj '/O=Samba AD test/CN=EXAMPLE.TEST test CA' \
      -addext 'basicConstraints=critical,CA:TRUE' \
      -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout key.pem -out cert.csr \
      -subj '/O=Samba AD test/CN=dc1.example.test' 2>/dev/null
    printf '%s\n' \
      'subjectAltName=DNS:dc1.example.test,DNS:localhost,IP:127.0.0.1,IP:::1' \
      'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
      'extendedKeyUsage=serverAuth' >cert.ext
    openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile cert.ext -out cert.pem 2>/dev/null
    # The CA key is not needed again; Samba refuses a key.pem readable by others.
    rm -f ca-key.pem ca.srl cert.csr cert.ext
    chmod 600 key.pem
  )
}

seed() {
  local dir="$1"
  [[ -f $dir/etc/smb.conf ]] || die "$dir is not provisioned (no etc/smb.conf)"
  local db=(-s "$dir/etc/smb.conf" -H "$dir/private/sam.ldb")
  # Offline, straight into sam.ldb: no server or port needed, and the result can be copied.
  # No password expiry (max 0): a template made today must still bind in two months. Min age 0
  # lets tests change passwords. Lockout after 3 bad passwords, for good (duration 0), so the
  # locked user stays locked however old the template; a successful bind resets the count.
  samba-tool domain passwordsettings set "${db[@]}" --min-pwd-age=0 --max-pwd-age=0 \
    --account-lockout-threshold=3 --account-lockout-duration=0 \
    --reset-account-lockout-after=0 >/dev/null

  # Given and surname make alice's CN "Alice Example", so her DN is not derived from her login
  # name, as is common in real directories.
  samba-tool user create alice 'Alice-Passw0rd!' "${db[@]}" --given-name=Alice \
    --surname=Example --mail-address=alice@example.test
  # Nested: alice ∈ AI Users ∈ Data Readers ∈ All Staff; memberOf shows only the first.
  samba-tool group add 'All Staff' "${db[@]}"
  samba-tool group add 'Data Readers' "${db[@]}"
  samba-tool group add 'AI Users' "${db[@]}"
  samba-tool group addmembers 'All Staff' 'Data Readers' "${db[@]}"
  samba-tool group addmembers 'Data Readers' 'AI Users' "${db[@]}"
  samba-tool group addmembers 'AI Users' alice "${db[@]}"

  samba-tool user create bob 'Bob-Passw0rd!' "${db[@]}"
  samba-tool group add Finance "${db[@]}"
  samba-tool group addmembers Finance bob "${db[@]}"

  samba-tool user create disabled.user 'Disabled-Passw0rd!' "${db[@]}"
  samba-tool user disable disabled.user "${db[@]}"
  samba-tool user create expired.user 'Expired-Passw0rd!' "${db[@]}"
  samba-tool user create mustchange.user 'MustChange-Passw0rd!' --must-change-at-next-login \
    "${db[@]}"
  samba-tool user create locked.user 'Locked-Passw0rd!' "${db[@]}"

  samba-tool ou create 'OU=Service Accounts' "${db[@]}"
  samba-tool user create svc-reporting 'Svc-Passw0rd!' --userou='OU=Service Accounts' \
    "${db[@]}"

  # samba-tool has no "lock" and its setexpiry counts from now; a fixed date in the past
  # (2024-01-01 as Windows FILETIME) keeps the template deterministic. The system session may
  # write lockoutTime, which LDAP clients may only reset to 0.
  "$PYTHON" - "$dir" "$BASE_DN" <<'PY'
import sys
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB

directory, base = sys.argv[1], sys.argv[2]
lp = LoadParm()
lp.load(directory + '/etc/smb.conf')
db = SamDB(url=directory + '/private/sam.ldb', session_info=system_session(), lp=lp)
past = '133485408000000000'
db.modify_ldif(f'''dn: CN=expired.user,CN=Users,{base}
changetype: modify
replace: accountExpires
accountExpires: {past}

dn: CN=locked.user,CN=Users,{base}
changetype: modify
replace: lockoutTime
lockoutTime: {past}
-
replace: badPwdCount
badPwdCount: 3
''')
PY
  echo "samba-ad: seeded $dir"
}

# Samba writes DIR's absolute path into smb.conf (and nowhere else), so a copy needs it replaced.
# The old path comes from smb.conf itself, since SRC may have been renamed after provisioning.
clone() {
  local src="$1" dst="$2" old
  [[ -f $src/etc/smb.conf ]] || die "$src is not provisioned (no etc/smb.conf)"
  [[ ! -e $dst || -z "$(ls -A "$dst")" ]] || die "$dst is not empty"
  old="$(sed -n 's/^[[:space:]]*lock directory = //p' "$src/etc/smb.conf")"
  [[ -n $old ]] || die "no 'lock directory' in $src/etc/smb.conf"
  mkdir -p "$dst"
  dst="$(cd "$dst" && pwd)"
  cp -a "$src/." "$dst/"
  rm -rf "$dst/run" "$dst/log"
  mkdir -p "$dst/run" "$dst/log"
  # "$old" matched literally (re.escape), and only as a whole path value or its prefix.
  OLD="$old" NEW="$dst" "$PYTHON" - "$dst/etc/smb.conf" <<'PY'
import os, re, sys
path, old, new = sys.argv[1], os.environ['OLD'], os.environ['NEW']
text = open(path).read()
text = re.sub(r'= ' + re.escape(old) + r'(?=/|$)', lambda m: '= ' + new, text, flags=re.M)
open(path, 'w').write(text)
PY
}

start() {
  local dir="$1"
  [[ -f $dir/etc/smb.conf ]] || die "$dir is not provisioned (no etc/smb.conf)"
  [[ $(id -u) -eq 0 ]] || die 'the DC must run as root: its LDAP port, 389, is privileged'
  # Samba would fail with NT_STATUS_ADDRESS_ALREADY_ASSOCIATED; this says which port and why.
  if (exec 3<>/dev/tcp/127.0.0.1/389) 2>/dev/null; then
    die '127.0.0.1:389 is in use (another DC or LDAP server is running)'
  fi
  # -i: foreground, log to stdout, and exit when stdin closes, so a test runner that dies takes
  # the DC with it. -M single: one process; the default prefork model starts five.
  exec samba -i -M single -s "$dir/etc/smb.conf" --debuglevel="${SAMBA_AD_DEBUGLEVEL:-1}"
}

case "${1:-}" in
  install) install_samba ;;
  provision | seed | start)
    [[ $# -eq 2 ]] || usage
    "$1" "$2"
    ;;
  clone)
    [[ $# -eq 3 ]] || usage
    clone "$2" "$3"
    ;;
  *) usage ;;
esac
