#!/bin/sh
# Runs once both nodes answer: pairs them and shares folder "proj" over the
# REST API (busybox wget can GET and POST, which is all this needs; POST on
# /rest/config/{devices,folders} adds one entry built on <defaults>).
set -eu
# Overridable only to try this script outside Docker.
URL_A="${URL_A:-http://syncthing-a:8384}"
URL_B="${URL_B:-http://syncthing-b:8384}"
ADDR_A="${ADDR_A:-tcp://syncthing-a:22000}"
ADDR_B="${ADDR_B:-tcp://syncthing-b:22000}"
PATH_A="${PATH_A:-/var/syncthing/proj}"
PATH_B="${PATH_B:-/var/syncthing/proj}"

get() { # base_url key path
    wget -q -O- --header "X-API-Key: $2" "$1$3"
}
post() { # base_url key path json
    wget -q -O- --header "X-API-Key: $2" --header "Content-Type: application/json" \
        --post-data "$4" "$1$3"
}
my_id() {
    get "$1" "$2" /rest/system/status | tr -d ' \n' | sed -n 's/.*"myID":"\([^"]*\)".*/\1/p'
}

id_a=$(my_id "$URL_A" fixture-apikey-a)
id_b=$(my_id "$URL_B" fixture-apikey-b)
echo "A is $id_a"
echo "B is $id_b"

share() { # base_url key peer_name peer_id peer_address folder_type self_id folder_path
    post "$1" "$2" /rest/config/devices \
        "{\"deviceID\":\"$4\",\"name\":\"$3\",\"addresses\":[\"$5\"]}"
    post "$1" "$2" /rest/config/folders \
        "{\"id\":\"proj\",\"label\":\"proj\",\"path\":\"$8\",\"type\":\"$6\",\
\"fsWatcherDelayS\":${FS_WATCHER_DELAY_S:-10},\"devices\":[{\"deviceID\":\"$7\"},{\"deviceID\":\"$4\"}]}"
}
# Only B dials (A gets B's address last, once they are connected): two 1.19
# nodes dialling each other at once can stall for 20 s (see README).
share "$URL_A" fixture-apikey-a B "$id_b" dynamic "${FOLDER_TYPE_A:-sendreceive}" "$id_a" "$PATH_A"
share "$URL_B" fixture-apikey-b A "$id_a" "$ADDR_A" "${FOLDER_TYPE_B:-sendreceive}" "$id_b" "$PATH_B"
for _ in $(seq 1 60); do
    if get "$URL_A" fixture-apikey-a /rest/system/connections | tr -d ' \n' | grep -q "\"$id_b\":{[^}]*\"connected\":true"; then
        break
    fi
    sleep 1
done
post "$URL_A" fixture-apikey-a /rest/config/devices \
    "{\"deviceID\":\"$id_b\",\"name\":\"B\",\"addresses\":[\"$ADDR_B\"]}"
echo "paired; folder proj shared"
