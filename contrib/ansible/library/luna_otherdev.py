#!/usr/bin/python3
# Ansible module luna_otherdev: a Luna otherdev (contrib/ansible/README.md).
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.luna import YESNO, common_args, ensure

DOCUMENTATION = r"""
module: luna_otherdev
short_description: Luna otherdev objects, through the luna CLI
options:
  name: {description: name of the otherdev, required: true, type: str}
  state: {description: present or absent, default: present, type: str}
  luna_bin: {description: the luna command, default: luna, type: str}
  comment: {description: the otherdev's comment (passed on stdin), type: str}
  network: {type: str}
  ip: {type: str}
"""

ADD = [("network", "-N"), ("ip", "-i")]
FIELDS = [
    ("network", "network", "-N", str),
    ("ip", "ip", "-i", str),
]


def connected(obj, network):
    """The device's address in network, as the fields network and ip."""
    for c in obj.get("connected") or []:
        if c.get("network") == network:
            obj["network"], obj["ip"] = c.get("network"), c.get("ip")
    return obj


def main():
    spec = common_args()
    for param, _key, _flag, typ in FIELDS:
        spec[param] = dict(type="bool" if typ == YESNO else ("int" if typ == int else "str"))
    for param, _flag in ADD:
        spec.setdefault(param, dict(type="str"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ensure(module, "otherdev", ADD, FIELDS, current_of=lambda o: connected(o, module.params.get("network")))


if __name__ == "__main__":
    main()
