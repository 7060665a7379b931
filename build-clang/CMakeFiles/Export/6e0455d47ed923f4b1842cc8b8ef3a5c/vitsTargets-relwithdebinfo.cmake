#----------------------------------------------------------------
# Generated CMake target import file for configuration "RelWithDebInfo".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "vits::vits_static" for configuration "RelWithDebInfo"
set_property(TARGET vits::vits_static APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(vits::vits_static PROPERTIES
  IMPORTED_LINK_INTERFACE_LANGUAGES_RELWITHDEBINFO "C"
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libvits.a"
  )

list(APPEND _cmake_import_check_targets vits::vits_static )
list(APPEND _cmake_import_check_files_for_vits::vits_static "${_IMPORT_PREFIX}/lib/libvits.a" )

# Import target "vits::vits_shared" for configuration "RelWithDebInfo"
set_property(TARGET vits::vits_shared APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(vits::vits_shared PROPERTIES
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libvits.so.0.1.0"
  IMPORTED_SONAME_RELWITHDEBINFO "libvits.so.0"
  )

list(APPEND _cmake_import_check_targets vits::vits_shared )
list(APPEND _cmake_import_check_files_for_vits::vits_shared "${_IMPORT_PREFIX}/lib/libvits.so.0.1.0" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)
