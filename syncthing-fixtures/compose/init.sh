#!/bin/sh
# Runs once, in the syncthing image, before the two nodes start: generates
# each node's home (keys + config.xml) and applies the same settings as the
# Rust fixture, so that not even the first start announces or dials out:
# no global/local discovery, relays, NAT, usage or crash reporting, upgrades.
# The GUI address and API key come from STGUIADDRESS/STGUIAPIKEY instead.
set -eu
# Overridable only to try this script outside Docker.
root="${ST_ROOT:-}"

for node in a b; do
    home="$root/st-$node/config"
    listen=$(eval echo "\${LISTEN_$node:-tcp://0.0.0.0:22000}")
    if [ ! -f "$home/config.xml" ]; then
        syncthing generate --home "$home" --no-default-folder --skip-port-probing
    fi
    set_option() {
        # Each of these tags occurs once in config.xml, inside <options>.
        sed -i "s|<$1>[^<]*</$1>|<$1>$2</$1>|" "$home/config.xml"
    }
    set_option listenAddress "$listen"
    set_option globalAnnounceEnabled false
    set_option localAnnounceEnabled false
    set_option relaysEnabled false
    set_option natEnabled false
    set_option announceLANAddresses false
    set_option startBrowser false
    set_option urAccepted -1
    set_option autoUpgradeIntervalH 0
    set_option crashReportingEnabled false
    set_option restartOnWakeup false
    # Container networks count as LAN: without this, rate limits are ignored.
    set_option limitBandwidthInLan true
    # The folder root needs its marker before Syncthing will use it.
    mkdir -p "$root/st-$node/proj/.stfolder"
    chown -R "${PUID:-1000}:${PGID:-1000}" "$root/st-$node"
done
