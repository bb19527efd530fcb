from django.contrib import admin

from .models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "company", "job_title", "stage")
    search_fields = ("email", "first_name", "last_name", "company")
