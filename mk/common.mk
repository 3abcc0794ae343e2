# Common userspace build settings, included by every component Makefile.
#   make -C <component> O=<abs build dir> SAN=0|1
# O   where objects, libraries (O/lib), programs (O/bin) and unit tests (O/unit) go
# SAN 1 builds with AddressSanitizer + UBSan (make check runs the unit tests both ways)
TOP     := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
O       ?= $(TOP)/build/normal
SAN     ?= 0
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I$(TOP)/include
LDFLAGS ?=
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)
