#!/bin/sh
# Runs a command in a network namespace of its own (root; Linux `unshare`).
#
# A two-node Ray cluster cannot stay on 127.0.0.1: Ray 2.60 replaces a
# loopback node address by the host's own network address. In this namespace
# the only interface is the loopback, given one more address (10.77.0.1) and
# the default route, so that address is the host's and nothing the cluster
# sends can leave the namespace. Usage:
#   sh tests/inference/in_network_namespace.sh python -m pytest tests/inference/test_ray_upscale.py
exec unshare --net -- sh -c '
ip link set lo up &&
ip addr add 10.77.0.1/32 dev lo &&
ip route add default dev lo &&
ENLCA_TEST_NETNS=1 exec "$@"' sh "$@"
