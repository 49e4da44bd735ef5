# Helpers shared by every module's CMakeLists.txt.

# pk_library(NAME SOURCES... DEPS ...): one static library per module, with
# src/ as the include root so headers are included as "module/name.h".
function(pk_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# pk_test(NAME LABEL SOURCES... DEPS ... [FIXTURES ...] [TIMEOUT s]): a GoogleTest
# binary registered as one CTest test carrying LABEL (unit, integration, e2e, ha).
# Integration and e2e tests require the lab fixture and run one at a time;
# ha tests require the HA lab fixture (tests/ha) instead.
function(pk_test name label)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS ${label} TIMEOUT ${ARG_TIMEOUT})
  if(label STREQUAL "unit")
    # The target `unit_tests` (tests/fuzz) builds these: the unit label alone.
    set_property(GLOBAL APPEND PROPERTY PK_UNIT_TEST_TARGETS ${name})
  endif()
  if(label STREQUAL "ha")
    # The HA lab (scripts/lab-ha) has its own fixture and lock, and never the
    # host ZFS lab's: its heads run their own zfs-fuse in private namespaces.
    set_tests_properties(${name} PROPERTIES
      FIXTURES_REQUIRED ha_lab
      RESOURCE_LOCK ha_lab
      ENVIRONMENT "PK_HA_LAB_DIR=${PK_HA_LAB_DIR};PK_HA_BIN_DIR=${PROJECT_BINARY_DIR}/src;PK_BUILD_DIR=${PROJECT_BINARY_DIR};PK_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  elseif(NOT label STREQUAL "unit")
    set_tests_properties(${name} PROPERTIES
      FIXTURES_REQUIRED lab
      RESOURCE_LOCK zfs
      ENVIRONMENT "PK_LAB_DIR=${PK_LAB_DIR};PK_BUILD_DIR=${PROJECT_BINARY_DIR};PK_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  endif()
endfunction()
