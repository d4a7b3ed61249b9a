#!/usr/bin/python3
# Ansible module luna_node: a Luna node (contrib/ansible/README.md).
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.luna import YESNO, common_args, ensure

DOCUMENTATION = r"""
module: luna_node
short_description: Luna node objects, through the luna CLI
options:
  name: {description: name of the node, required: true, type: str}
  state: {description: present or absent, default: present, type: str}
  luna_bin: {description: the luna command, default: luna, type: str}
  new_name: {description: the node's name afterwards (renamed from name when that exists), type: str}
  comment: {description: the node's comment (passed on stdin), type: str}
  group: {type: str}
  switch: {type: str}
  port: {type: str}
  mac: {type: str}
  localboot: {type: bool}
  setupbmc: {type: bool}
  service: {type: bool}
"""

ADD = [("group", "-g")]
FIELDS = [
    ("group", "group", "-g", str),
    ("mac", "mac", "--mac", str),
    ("switch", "switch", "-s", str),
    ("port", "port", "-p", str),
    ("localboot", "localboot", "-l", YESNO),
    ("setupbmc", "setupbmc", "--setupbmc", YESNO),
    ("service", "service", "--service", YESNO),
]


def main():
    spec = common_args()
    for param, _key, _flag, typ in FIELDS:
        spec[param] = dict(type="bool" if typ == YESNO else ("int" if typ == int else "str"))
    for param, _flag in ADD:
        spec.setdefault(param, dict(type="str"))
    spec["new_name"] = dict(type="str")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ensure(module, "node", ADD, FIELDS, rename=True)


if __name__ == "__main__":
    main()
