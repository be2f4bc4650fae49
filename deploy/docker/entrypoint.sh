#!/bin/sh
# `intuition` inside the image. BCC compiles against /lib/modules/$(uname -r)/{build,source}: the host's
# headers when /lib/modules and /usr/src are mounted and hold them, else the tree the image carries.
release=$(uname -r)
if [ -z "${BCC_KERNEL_SOURCE:-}" ] \
   && [ ! -e "/lib/modules/$release/build/include/linux/kconfig.h" ] \
   && [ ! -e "/lib/modules/$release/source/include/linux/kconfig.h" ]; then
  export BCC_KERNEL_SOURCE=/opt/intuition/kernel-headers
fi
exec /opt/intuition/venv/bin/intuition "$@"
