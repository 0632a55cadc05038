/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A stand-in bcryptprimitives.dll for running ntrescue.exe under Wine in
 * tests only (tests/it/wine.rs builds it with mingw at test time; it is
 * never shipped). Rust's standard library takes its random numbers from
 * bcryptprimitives.dll!ProcessPrng since Rust 1.78; Debian's Wine 8 has no
 * such DLL. This one exports ProcessPrng and fills the buffer from the
 * system's RNG, advapi32!SystemFunction036 (RtlGenRandom), which Wine
 * implements over the host's random source.
 */
#include <windows.h>

/* advapi32.dll; declared here because ntsecapi.h hides it behind a macro. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* RtlGenRandom takes a ULONG length: larger requests go in pieces. */
#define PIECE 0x10000000UL

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > PIECE ? PIECE : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
