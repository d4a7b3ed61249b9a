#!/usr/bin/python3
# Ansible module luna_network: a Luna network (contrib/ansible/README.md).
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.luna import YESNO, common_args, ensure

DOCUMENTATION = r"""
module: luna_network
short_description: Luna network objects, through the luna CLI
options:
  name: {description: name of the network, required: true, type: str}
  state: {description: present or absent, default: present, type: str}
  luna_bin: {description: the luna command, default: luna, type: str}
  comment: {description: the network's comment (passed on stdin), type: str}
  network: {description: network address, type: str}
  prefix: {description: prefix length, type: int}
  ns_hostname: {type: str}
  ns_ip: {type: str}
"""

ADD = [("network", "-N"), ("prefix", "-P"), ("ns_hostname", "--ns_hostname"), ("ns_ip", "--ns_ip")]
FIELDS = [
    ("network", "network", "-N", str),
    ("prefix", "prefix", "-P", int),
    ("ns_hostname", "ns_hostname", "--ns_hostname", str),
    ("ns_ip", "ns_ip", "--ns_ip", str),
]


def main():
    spec = common_args()
    for param, _key, _flag, typ in FIELDS:
        spec[param] = dict(type="bool" if typ == YESNO else ("int" if typ == int else "str"))
    for param, _flag in ADD:
        spec.setdefault(param, dict(type="str"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ensure(module, "network", ADD, FIELDS)


if __name__ == "__main__":
    main()
