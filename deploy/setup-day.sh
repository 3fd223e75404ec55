#!/bin/sh
# Sets a protocol v2 deployment's day up on the broker, as docker-compose.yml runs it: the topics,
# the enrolment authority, every household's identity key and certificate, the aggregator's key,
# the day's Cutoff and the (local stand-in) beacon, and simulated readings per region.
#
#   ZEAL_KAFKA_BOOTSTRAP=127.0.0.1:9092 REGIONS=NL-UT-01,NL-GR-02 sh deploy/setup-day.sh
#
# Environment (defaults in brackets): ZEAL [zeal], DIR [/var/lib/zeal/keys] (secrets: 0700),
# REGIONS [NL-UT-01,NL-GR-02], METERS_PER_REGION [8], DAY [2020-07-01], FROM [${DAY}T10:00Z],
# TO [${DAY}T12:00Z], PARTITIONS [12], VALID_FROM [2020-01-01] (of the certificates),
# SHARE [] (households, comma-separated, that consent to share their readings, their gateway's
# history included: each reads the code off its gateway, `zeal share --pairing-code`, and the
# consent app publishes the grant, `zeal consent grant --history`);
# ZEAL_KAFKA_BOOTSTRAP and ZEAL_TOPIC_PREFIX as for zeal.
#
# Writes into DIR: authority.key/.pub, meters/ (identity keys), certificates/,
# aggregator/aggregator.key/.pub, beacon.seed, beacon.anchor, readings-<REGION>.csv, and for
# the web app the (stand-in) portal's portal.key/.pub, operator.token and the consent app's
# consent.key/.pub (made on every run when absent, so an older keys volume gets them too).
# Idempotent: a day set up once is left as it is (DIR/day-<DAY>.done); keys are never
# overwritten.
set -eu
ZEAL=${ZEAL:-zeal}
DIR=${DIR:-/var/lib/zeal/keys}
REGIONS=${REGIONS:-NL-UT-01,NL-GR-02}
METERS_PER_REGION=${METERS_PER_REGION:-8}
DAY=${DAY:-2020-07-01}
FROM=${FROM:-${DAY}T10:00Z}
TO=${TO:-${DAY}T12:00Z}
PARTITIONS=${PARTITIONS:-12}
VALID_FROM=${VALID_FROM:-2020-01-01}
SHARE=${SHARE:-}

umask 077
mkdir -p "$DIR"
"$ZEAL" portal init --key-file "$DIR/portal.key"
"$ZEAL" consent init --key-file "$DIR/consent.key"
if [ ! -s "$DIR/operator.token" ]; then
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$DIR/operator.token"
fi
if [ -e "$DIR/day-$DAY.done" ]; then
    echo "day $DAY already set up in $DIR"
    exit 0
fi
"$ZEAL" topics create --partitions "$PARTITIONS"
"$ZEAL" authority init --key-file "$DIR/authority.key"
for region in $(echo "$REGIONS" | tr ',' ' '); do
    csv="$DIR/readings-$region.csv"
    "$ZEAL" simulate --regions "$region" --meters-per-region "$METERS_PER_REGION" \
        --from "$FROM" --to "$TO" --out "$csv"
    meters=$(tail -n +2 "$csv" | cut -d, -f1 | sort -u | paste -sd, -)
    "$ZEAL" keys --state-dir "$DIR/meters" --meters "$meters" |
        while read -r meter public; do
            "$ZEAL" enrol --key-file "$DIR/authority.key" --meter "$meter" --region "$region" \
                --identity "$public" --valid-from "$VALID_FROM" --out "$DIR/certificates" --publish
        done
done
# The aggregator's key, and its public key for the gateways (before any process starts).
mkdir -p "$DIR/aggregator"
"$ZEAL" keys --state-dir "$DIR/aggregator" --meters aggregator |
    cut -d' ' -f2 >"$DIR/aggregator/aggregator.pub"
"$ZEAL" authority cutoff --key-file "$DIR/authority.key" --day "$DAY"
"$ZEAL" authority beacon --seed-file "$DIR/beacon.seed" --day "$DAY" |
    sed -n 's/^beacon anchor: //p' >"$DIR/beacon.anchor"
test -s "$DIR/beacon.anchor"
for household in $(echo "$SHARE" | tr ',' ' '); do
    region=${household%-m*}
    code=$("$ZEAL" share --region "$region" --state-dir "$DIR/meters" --meters "$household" \
        --consent-app "$DIR/consent.pub" --pairing-code "$household" | sed -n 2p | cut -d' ' -f1)
    "$ZEAL" consent grant --consent-key "$DIR/consent.key" --household "$household" \
        --region "$region" --code "$code" --history
done
touch "$DIR/day-$DAY.done"
echo "day $DAY set up in $DIR: regions $REGIONS, $METERS_PER_REGION households each"
