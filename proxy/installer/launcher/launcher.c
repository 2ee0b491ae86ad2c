/*
 * BackupHyperVInstaller.exe: the installer service's executable (docs/installs.md, "The installer service").
 *
 * The service control manager starts this file; it loads the embeddable CPython beside it
 * (python\PYTHON_DLL) and runs installer.pyz in this same process with the arguments it was given, as
 * pythonw.exe runs a script: the process the service control manager started is the one that calls
 * StartServiceCtrlDispatcherW (a child process could not). The build (tools/proxy_package.py) gives the file
 * the component's version as its version resource, which host_facts reports as the installer's version.
 * Built with mingw-w64 as a GUI-subsystem program: a service has no console.
 */
#include <windows.h>
#include <shellapi.h>
#include <stdlib.h>
#include <wchar.h>

#ifndef PYTHON_DLL
#error "build with -DPYTHON_DLL=L\"python3XY.dll\""
#endif

typedef int(__cdecl *py_main_function)(int argc, wchar_t **argv);

/* The folder of this executable, without a trailing backslash; 0 when it does not fit. */
static int own_folder(wchar_t *folder, DWORD size)
{
    DWORD length = GetModuleFileNameW(NULL, folder, size);
    wchar_t *slash;
    if (length == 0 || length >= size)
        return 0;
    slash = wcsrchr(folder, L'\\');
    if (slash == NULL)
        return 0;
    *slash = L'\0';
    return 1;
}

int WINAPI wWinMain(HINSTANCE instance, HINSTANCE previous, PWSTR command_line, int show)
{
    wchar_t folder[MAX_PATH], library[MAX_PATH], application[MAX_PATH];
    wchar_t **arguments, **python_arguments;
    int count, index;
    HMODULE python;
    py_main_function py_main;

    (void)instance, (void)previous, (void)command_line, (void)show;
    if (!own_folder(folder, MAX_PATH))
        return 2;
    swprintf(library, MAX_PATH, L"%ls\\python\\%ls", folder, PYTHON_DLL);
    swprintf(application, MAX_PATH, L"%ls\\installer.pyz", folder);
    /* The altered search path: the DLL's own dependencies (vcruntime140.dll) are found in its folder. */
    python = LoadLibraryExW(library, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
    if (python == NULL)
        return 3;
    py_main = (py_main_function)(void (*)(void))GetProcAddress(python, "Py_Main");
    arguments = CommandLineToArgvW(GetCommandLineW(), &count);
    python_arguments = calloc((size_t)count + 2, sizeof *python_arguments);
    if (py_main == NULL || arguments == NULL || python_arguments == NULL)
        return 4;
    /* argv: this program, installer.pyz, then the service's arguments (--service --packages ...). */
    python_arguments[0] = arguments[0];
    python_arguments[1] = application;
    for (index = 1; index < count; index++)
        python_arguments[index + 1] = arguments[index];
    return py_main(count + 1, python_arguments);
}
