/* Test-only bcryptprimitives.dll for Wine 8.0, which lacks it (tests/integration/wine/README.md).
 *
 * Rust's standard library (1.78 and later) asks Windows for random bytes through ProcessPrng, exported by
 * bcryptprimitives.dll; blake3's and cryptography's extension modules import it at load time. This DLL
 * exports ProcessPrng over RtlGenRandom (advapi32's SystemFunction036), which Wine has.
 * ProcessPrng: https://learn.microsoft.com/windows/win32/seccng/processprng
 * RtlGenRandom: https://learn.microsoft.com/windows/win32/api/ntsecapi/nf-ntsecapi-rtlgenrandom
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* RtlGenRandom takes a ULONG length: larger requests are filled a gigabyte at a time. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    const SIZE_T piece = 1u << 30;
    while (length > 0) {
        ULONG now = (ULONG)(length < piece ? length : piece);
        if (!SystemFunction036(data, now)) {
            return FALSE;
        }
        data += now;
        length -= now;
    }
    return TRUE;
}
