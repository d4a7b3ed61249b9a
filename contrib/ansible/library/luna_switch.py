#!/usr/bin/python3
# Ansible module luna_switch: a Luna switch (contrib/ansible/README.md).
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.luna import YESNO, common_args, ensure

DOCUMENTATION = r"""
module: luna_switch
short_description: Luna switch objects, through the luna CLI
options:
  name: {description: name of the switch, required: true, type: str}
  state: {description: present or absent, default: present, type: str}
  luna_bin: {description: the luna command, default: luna, type: str}
  comment: {description: the switch's comment (passed on stdin), type: str}
  network: {type: str}
  ip: {type: str}
  read: {type: str}
  rw: {type: str}
  oid: {type: str}
"""

ADD = [("network", "-N"), ("ip", "-i"), ("read", "-r"), ("rw", "-w"), ("oid", "-o")]
FIELDS = [
    ("network", "network", "-N", str),
    ("ip", "ip", "-i", str),
    ("read", "read", "-r", str),
    ("rw", "rw", "-w", str),
    ("oid", "oid", "-o", str),
]


def main():
    spec = common_args()
    for param, _key, _flag, typ in FIELDS:
        spec[param] = dict(type="bool" if typ == YESNO else ("int" if typ == int else "str"))
    for param, _flag in ADD:
        spec.setdefault(param, dict(type="str"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ensure(module, "switch", ADD, FIELDS)


if __name__ == "__main__":
    main()
