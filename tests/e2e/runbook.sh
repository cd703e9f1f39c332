#!/usr/bin/env bash
# Runs the curl commands of the token breach runbook
# (shared/spec/token-breach-runbook.md) against a rotator test server, and
# checks with jq that every JSON field the runbook shows is present with the
# right type. test_runbook.py drives it; it can also be run by hand.
#
# Needs in the environment:
#   BASE_URL        the server, e.g. http://127.0.0.1:8080 (loopback only)
#   ADMIN_PASSWORD  the password of admin@example.com
#   USER_ID         the user of the P2 step
# and, in the current directory, compromised_users.txt (the P1 user ids, one
# a line). P0 writes its incident_*_global_rotation.json there as well.
# Run it on a fresh database: step 1 expects no rotation to have happened.
#
# The curl commands are the runbook's, character for character, except:
# - Pre-incident step 1 addresses https://api.dashtam.com: here $BASE_URL,
#   and the real admin password instead of "REDACTED".
# - Each command's answer is captured in a variable to be checked, and the
#   runbook's `export ADMIN_TOKEN="eyJ..."` placeholder is filled from the
#   login answer with jq.
# - P1 drops `sleep 1  # Rate limit friendly` to keep the run fast.
# - P0 captures curl's answer in RESPONSE, which the runbook's next step
#   saves; the `while true ... sleep 60` monitoring loop runs its body once.
# - The PagerDuty call and the docker/kubectl commands are not rotator's API
#   and are not run.
# A .curlrc (via CURL_HOME) makes curl quiet, bypass proxies and time out.

set -euo pipefail

: "${BASE_URL:?set BASE_URL to the test server}"
: "${ADMIN_PASSWORD:?set ADMIN_PASSWORD}"
: "${USER_ID:?set USER_ID to the P2 user}"
export BASE_URL

CURL_HOME=$(mktemp -d)
export CURL_HOME
trap 'rm -rf "$CURL_HOME"' EXIT
cat >"$CURL_HOME/.curlrc" <<'EOF'
silent
show-error
noproxy = "*"
max-time = 15
EOF

# jq helpers: field(name; type) is true when the field exists with that type.
JQ_DEFS='def field(k; t): has(k) and (.[k] | type) == t;'

fail() {
	echo "runbook: FAIL: $*" >&2
	exit 1
}

# expect LABEL JSON FILTER [jq args...]: FILTER must be true for JSON.
expect() {
	local label=$1 json=$2 filter=$3
	shift 3
	jq -e "$@" "$JQ_DEFS $filter" >/dev/null 2>&1 <<<"$json" ||
		fail "$label: $filter; got: $json"
	echo "runbook: ok: $label"
}

# ---------------------------------------------------------------------------
# Pre-incident preparation, step 1: verify admin access

LOGIN=$(curl -k -X POST $BASE_URL/api/v1/auth/login \
  -H "Content-Type: application/json" \
  -d '{
    "email": "admin@example.com",
    "password": "'"$ADMIN_PASSWORD"'"
  }')
expect "admin login" "$LOGIN" \
	'field("access_token"; "string") and .token_type == "bearer"'

# Save access token
ADMIN_TOKEN=$(jq -r .access_token <<<"$LOGIN")
export ADMIN_TOKEN

# Test token works
CONFIG=$(curl -k $BASE_URL/api/v1/token-rotation/security-config \
  -H "Authorization: Bearer $ADMIN_TOKEN")
expect "security-config before any rotation" "$CONFIG" \
	'field("global_min_token_version"; "number")
	 and field("last_updated_at"; "string")
	 and field("last_updated_by"; "null")
	 and field("last_rotation_reason"; "null")
	 and field("grace_period_ends_at"; "null")'

# ---------------------------------------------------------------------------
# P2: individual user compromise, option 2 (admin rotation)

P2=$(curl -k -X POST "$BASE_URL/api/v1/token-rotation/users/$USER_ID" \
  -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "reason": "User reported device theft. Support ticket: SUP-98765. User requested logout from all devices."
  }')
expect "P2 user rotation" "$P2" \
	'.rotation_type == "USER" and .user_id == $id
	 and field("old_version"; "number") and field("new_version"; "number")
	 and .new_version == .old_version + 1
	 and field("tokens_revoked"; "number")
	 and (.reason | startswith("User reported device theft"))
	 and field("rotated_at"; "string")' --arg id "$USER_ID"

# ---------------------------------------------------------------------------
# P1: user group compromise, step 2 (rotate each affected user)

P1=$(
# Rotate each user's tokens
while read user_id; do
  echo "Rotating tokens for user: $user_id"
  
  curl -k -X POST "$BASE_URL/api/v1/token-rotation/users/$user_id" \
    -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H "Content-Type: application/json" \
    -d '{
      "reason": "User group compromise detected. Ticket: INC-12346. Phishing campaign targeting financial sector."
    }' | jq '.'
  
done < compromised_users.txt
)
P1_JSON=$({ grep -v '^Rotating tokens for user: ' <<<"$P1" || true; } | jq -s .)
P1_IDS=$(jq -R . compromised_users.txt | jq -s .)
expect "P1 one rotation per listed user" "$P1_JSON" \
	'map(.user_id) == $ids
	 and all(.[]; .rotation_type == "USER"
	   and field("old_version"; "number") and field("new_version"; "number")
	   and field("tokens_revoked"; "number") and field("reason"; "string")
	   and field("rotated_at"; "string"))' --argjson ids "$P1_IDS"

# ---------------------------------------------------------------------------
# P0: critical system-wide breach, step 2 (global rotation, grace 15)

RESPONSE=$(curl -k -X POST $BASE_URL/api/v1/token-rotation/global \
  -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "reason": "CRITICAL SECURITY INCIDENT: [Brief description]. Ticket: INC-12345. Authorized by: [Name]. All users will be logged out after grace period.",
    "grace_period_minutes": 15
  }')

# Save response for incident report
echo "$RESPONSE" > incident_$(date +%Y%m%d_%H%M%S)_global_rotation.json

expect "P0 global rotation" "$RESPONSE" \
	'.rotation_type == "GLOBAL"
	 and field("old_version"; "number") and field("new_version"; "number")
	 and .new_version == .old_version + 1
	 and field("tokens_revoked"; "number")
	 and field("users_affected"; "number")
	 and (.reason | startswith("CRITICAL SECURITY INCIDENT"))
	 and .initiated_by == "USER:admin@example.com"
	 and .grace_period_minutes == 15
	 and field("rotated_at"; "string")'

# P0 step 5: monitor key metrics during grace period (one pass of the loop)
MONITOR=$(
  echo "=== $(date) ==="
  
  # Check active sessions
  curl -k "$BASE_URL/api/v1/sessions/active" \
    -H "Authorization: Bearer $ADMIN_TOKEN" | jq '.total_active'
  
  # Check API health
  curl -k "$BASE_URL/api/v1/health" | jq '.status'
)
[[ $(sed -n 2p <<<"$MONITOR") =~ ^[0-9]+$ ]] ||
	fail "monitor: total_active is not a number: $MONITOR"
[[ $(sed -n 3p <<<"$MONITOR") == '"healthy"' ]] ||
	fail "monitor: status is not \"healthy\": $MONITOR"
echo "runbook: ok: monitor loop body"

# ---------------------------------------------------------------------------
# Monitoring: health checks

HEALTH=$(curl -k "$BASE_URL/api/v1/health")
expect "health" "$HEALTH" '.status == "healthy"'

CONFIG=$(curl -k "$BASE_URL/api/v1/token-rotation/security-config" \
  -H "Authorization: Bearer $ADMIN_TOKEN")
expect "security-config during the grace window" "$CONFIG" \
	'field("global_min_token_version"; "number")
	 and field("last_updated_at"; "string")
	 and field("last_updated_by"; "string")
	 and (.last_rotation_reason | startswith("CRITICAL SECURITY INCIDENT"))
	 and field("grace_period_ends_at"; "string")'

echo "runbook: all steps passed"
