#!/usr/bin/python3
"""Ansible dynamic inventory from `luna node list -o json`: one group per
Luna group, each node with its Luna fields as host variables (luna_group,
luna_mac, luna_interfaces, ...) and ansible_host the address of its BOOTIF
interface when it has one. LUNA_BIN names the luna command (default luna)."""
import json
import os
import subprocess
import sys


def inventory():
    out = subprocess.run([os.environ.get("LUNA_BIN", "luna"), "node", "list", "-o", "json"],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    inv = {"_meta": {"hostvars": {}}, "all": {"children": []}}
    for node in json.loads(out) or []:
        name, group = node["name"], node.get("group") or "ungrouped"
        g = inv.setdefault(group, {"hosts": []})
        g["hosts"].append(name)
        if group not in inv["all"]["children"]:
            inv["all"]["children"].append(group)
        hv = {"luna_" + k: v for k, v in node.items() if k != "name"}
        for i in node.get("interfaces") or []:
            if i.get("name") == "BOOTIF" and (i.get("ipv4") or i.get("ipv6")):
                hv["ansible_host"] = i.get("ipv4") or i.get("ipv6")
        inv["_meta"]["hostvars"][name] = hv
    return inv


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print(json.dumps(inventory()["_meta"]["hostvars"].get(sys.argv[2], {})))
    else:
        print(json.dumps(inventory(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
